-- ingest_lines: the parsed lines (`parsed_lines` rows) of every file this ingest read, numbered with
-- their files' own line numbers.
-- Inputs: relations parsed_plain and parsed_gapped (the scratch Parquet rows the parse wrote, with
-- file_row_number, of the files read whole or copied, and of the sanitised copies that left lines
-- out) and line_gaps (file_index, rows_before, skipped: in such a copy, after its first rows_before
-- rows, `skipped` lines in all had been left out: the lines the Python pre-scan classified itself).
-- Variables: source_files (the ingest's sorted absolute paths: file_index + 1 is a file's place in
-- it), last_lines (per file, in the same places: its last complete line the Python pass counted).
-- A file parsed by one query has no source_line in its rows: they are in file order, so a row's
-- place in the copy is its position in its scratch file (a two-step parse numbered the rows of the
-- copy itself). Its line is that place after the lines read before (line_offset) plus the lines the
-- copy left out before it. Lines after the last complete line the Python pass counted (a torn
-- tail, or lines appended while DuckDB read) are dropped here. The columns that follow from others
-- (source_file, family, endpoint, resource_id) are added here, so the scratch files need not hold
-- them.
WITH plain AS (
    SELECT
        * EXCLUDE (source_line, file_row_number),
        coalesce(source_line - line_offset - 1, file_row_number) AS copy_row  -- from 0
    FROM parsed_plain
),

gapped AS (
    SELECT
        * EXCLUDE (source_line, file_row_number),
        coalesce(source_line - line_offset - 1, file_row_number) AS copy_row
    FROM parsed_gapped
),

numbered AS (
    SELECT *, line_offset + copy_row + 1 AS source_line
    FROM plain
    UNION ALL
    -- (only the copies that left lines out: an ASOF join sorts its input)
    SELECT p.*, p.line_offset + p.copy_row + 1 + coalesce(g.skipped, 0) AS source_line
    FROM gapped AS p
    ASOF LEFT JOIN line_gaps AS g ON g.file_index = p.file_index AND p.copy_row >= g.rows_before
)

SELECT
    * EXCLUDE (line_offset, copy_row),
    getvariable('source_files')[file_index + 1] AS source_file,
    CASE WHEN code IS NULL THEN
        CASE WHEN starts_with(kind, 'vm.compute.') THEN 'vm.compute'
            WHEN starts_with(kind, 'vm.storage.') THEN 'vm.storage'
            ELSE 'snap.storage' END
    END AS family,
    CASE WHEN code IS NULL THEN
        CASE WHEN ends_with(kind, '.start') THEN 'start' ELSE 'stop' END
    END AS endpoint,
    CASE WHEN code IS NULL THEN
        CASE WHEN starts_with(kind, 'vm.') THEN vm_id ELSE snapshot_id END
    END AS resource_id
FROM numbered
WHERE source_line <= coalesce(getvariable('last_lines')[file_index + 1], 9223372036854775807)
