-- ledger_lines: the complete lines of one ledger file as text, numbered from 1 (+ line_offset).
-- Variables: ledger_path (the file DuckDB reads: the ledger itself, a copy of its unread part, or a
-- sanitised copy), line_offset (lines of the file before what this read covers), last_line (the
-- last complete line of the snapshot the Python pass read; NULL: every line, for a compressed
-- file), first_line (lines up to this one are parsed by another query), csv_parallel.
-- The file is read as one-column CSV with a NUL delimiter and no quote or escape, so every line is
-- one row and its text is kept as written; DuckDB drops the trailing CR of a CRLF line. Callers only
-- use this reader on text that holds no NUL byte, no lone CR and valid UTF-8 (the Python pass checks).
SELECT *
FROM (
    SELECT
        row_number() OVER () + getvariable('line_offset') AS source_line,
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
    )
)
-- the range this query parses (a big file is parsed by several); a torn last line, or lines
-- appended while DuckDB reads, are not part of the read
WHERE source_line > coalesce(getvariable('first_line'), 0)
    AND source_line <= coalesce(getvariable('last_line'), source_line)
