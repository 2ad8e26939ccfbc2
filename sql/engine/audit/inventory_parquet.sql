-- inventory_parquet: the rows of Parquet inventory snapshot files sharing one schema, each with its file and its row number from 1 as its line.
-- Variable: audit_file_paths (the files, their glob characters escaped). Columns as the files type
-- them (inventory_rows reads an integer or text shape, a timestamp or text observed_at); an
-- optional column the files lack is added as NULL by the caller's view over this one.
SELECT filename, file_row_number + 1 AS line, * EXCLUDE (filename, file_row_number)
FROM read_parquet(
    getvariable('audit_file_paths'), file_row_number = true, filename = true, hive_partitioning = false
)
