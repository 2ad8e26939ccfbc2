-- ledger_text: the lines of one ledger file as text, one row per line, with their place in the file.
-- Variables: ledger_path (the file DuckDB reads: the ledger itself, a copy of its unread part, or a
-- sanitised copy), csv_parallel.
-- The file is read as one-column CSV with a NUL delimiter and no quote or escape, so every line is
-- one row and its text is kept as written; DuckDB drops the trailing CR of a CRLF line. Callers only
-- use this reader on text that holds no NUL byte, no lone CR and valid UTF-8 (the Python pass checks).
-- `position` (WITH ORDINALITY) numbers the rows in file order as the reader streams them; a query
-- that uses it reads on one thread, so the one-pass parse leaves it out: its rows stay in file order
-- when `preserve_insertion_order` is on (also with the parallel reader), and an ordered Parquet
-- file written from them numbers the lines by position (`file_row_number`). The rows run to the end
-- of the file as DuckDB sees it: a torn last line, or lines appended while DuckDB reads, are
-- dropped by line number afterwards (`ledger_lines`' last_line, `ingest_lines`' last_lines).
SELECT
    ordinality AS position,
    coalesce(raw, '') AS raw  -- an empty line reads as NULL
FROM read_csv(
    getvariable('ledger_path'),
    columns = {'raw': 'VARCHAR'},
    delim = '\0',  -- NUL: never in a line this reader is given
    quote = '',
    escape = '',
    header = false,
    auto_detect = false,
    strict_mode = false,
    new_line = '\r\n',  -- CRLF and LF both end a line (with '\n' a CR would end one too)
    max_line_size = 2097152,
    parallel = getvariable('csv_parallel')  -- false only for a file the parallel reader refuses
) WITH ORDINALITY
