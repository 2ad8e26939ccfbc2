-- inventory_csv: the rows of CSV inventory snapshot files sharing one header, as text, each with the file it came from and its number among the rows DuckDB could read there.
-- Variables: audit_file_paths (the files, their glob characters escaped), audit_csv_columns (a
-- STRUCT of the header's column names, each 'VARCHAR', in the header's order).
-- A row DuckDB cannot read as a row of those columns (too few or too many fields, an unterminated
-- quote, bytes that are not UTF-8) goes to the temp table audit_csv_errors with its file and line
-- (the header is line 1), not here. The files are read in order, one after the other, and
-- WITH ORDINALITY numbers the rows in that order, so `row_no` counts a file's rows read before
-- this one; a row's line is row_no + 1 plus the rejected lines before it (inventory_csv_lines).
SELECT
    filename,
    row_number() OVER (PARTITION BY filename ORDER BY ordinality) AS row_no,
    * EXCLUDE (filename, ordinality)
FROM read_csv(
    getvariable('audit_file_paths'),
    columns = getvariable('audit_csv_columns'),
    header = true,
    auto_detect = false,
    delim = ',',
    quote = '"',
    escape = '"',
    filename = true,
    store_rejects = true,
    rejects_table = 'audit_csv_errors',
    rejects_scan = 'audit_csv_scans'
) WITH ORDINALITY
