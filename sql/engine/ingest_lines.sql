-- ingest_lines: the parsed lines (`parsed_lines` rows) of every file this ingest read.
-- Variable: parsed_files (the scratch Parquet files the parse wrote, one or more per file).
-- A file parsed by one query has no source_line in its rows: they are in file order, so a row's
-- line is its position in its scratch file after the lines read before (line_offset). Lines after
-- the last complete line the Python pass counted (last_line: a torn tail, or lines appended while
-- DuckDB read) are dropped here.
SELECT
    * EXCLUDE (source_line, line_offset, last_line, file_row_number),
    coalesce(source_line, line_offset + file_row_number + 1) AS source_line
FROM read_parquet(getvariable('parsed_files'), file_row_number = true)
WHERE coalesce(source_line, line_offset + file_row_number + 1) <= coalesce(last_line, 9223372036854775807)
