-- ingest_lines: the parsed lines (`parsed_lines` rows) of every file this ingest read.
-- Variables: parsed_files (the scratch Parquet files the parse wrote, one or more per file),
-- source_files (the ingest's sorted absolute paths: file_index + 1 is a file's place in it),
-- last_lines (per file, in the same places: its last complete line the Python pass counted; NULL:
-- every line, a compressed file).
-- A file parsed by one query has no source_line in its rows: they are in file order, so a row's
-- line is its position in its scratch file after the lines read before (line_offset). Lines after
-- the last complete line the Python pass counted (a torn tail, or lines appended while
-- DuckDB read) are dropped here. The columns that follow from others (source_file, family,
-- endpoint, resource_id) are added here, so the scratch files need not hold them.
SELECT
    * EXCLUDE (source_line, line_offset, file_row_number),
    getvariable('source_files')[file_index + 1] AS source_file,
    coalesce(source_line, line_offset + file_row_number + 1) AS source_line,
    CASE WHEN code IS NULL AND NOT prescanned THEN
        CASE WHEN starts_with(kind, 'vm.compute.') THEN 'vm.compute'
            WHEN starts_with(kind, 'vm.storage.') THEN 'vm.storage'
            ELSE 'snap.storage' END
    END AS family,
    CASE WHEN code IS NULL AND NOT prescanned THEN
        CASE WHEN ends_with(kind, '.start') THEN 'start' ELSE 'stop' END
    END AS endpoint,
    CASE WHEN code IS NULL AND NOT prescanned THEN
        CASE WHEN starts_with(kind, 'vm.') THEN vm_id ELSE snapshot_id END
    END AS resource_id
FROM read_parquet(getvariable('parsed_files'), file_row_number = true)
WHERE coalesce(source_line, line_offset + file_row_number + 1) <= coalesce(getvariable('last_lines')[file_index + 1], 9223372036854775807)
