-- ledger_text: the lines of a batch of sources (ledger files, or copies of their new or odd parts)
-- as text, one row per line, with their source and their place in it.
-- Variables: ledger_paths (the files DuckDB reads, in source order), first_source (the source_index
-- of the first), csv_parallel.
-- The files are read as one-column CSV with a NUL delimiter and no quote or escape, so every line is
-- one row and its text is kept as written. Callers only use this reader on text that holds no NUL
-- byte, no CR (the LF reader ends a line at a CR too; copies end CRLF lines with LF alone) and valid
-- UTF-8 (the Python pass checks).
-- `position` (WITH ORDINALITY) numbers the rows in file order as the reader streams them; a query
-- that uses it reads on one thread, so only the two-step parse of one big source uses it. The
-- one-pass parse leaves it out: its rows stay in source order, and in line order within a source,
-- when `preserve_insertion_order` is on (also with the parallel reader), and an ordered Parquet
-- file written from them numbers each source's lines by position (`ingest_lines`). The rows run to
-- the end of each file as DuckDB sees it: a torn last line, or lines appended while DuckDB reads,
-- are dropped by line number afterwards (`ingest_lines`' last_line).
SELECT
    getvariable('first_source') + file_index AS source_index,  -- file_index: its place in the list
    ordinality AS position,
    coalesce(raw, '') AS raw  -- an empty line reads as NULL
FROM read_csv(
    getvariable('ledger_paths'),
    columns = {'raw': 'VARCHAR'},
    delim = '\0',  -- NUL: never in a line this reader is given
    quote = '',
    escape = '',
    header = false,
    auto_detect = false,
    strict_mode = false,
    new_line = '\n',  -- ('\r\n' made the parallel reader refuse files of a few million lines)
    max_line_size = 2097152,
    parallel = getvariable('csv_parallel')  -- false only for a file the parallel reader refuses
) WITH ORDINALITY
