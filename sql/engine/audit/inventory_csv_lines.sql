-- inventory_csv_lines: the rows of CSV inventory files (inventory_csv, read into audit_csv_rows) with the line each came from.
-- Inputs: relations audit_csv_rows (filename, row_no and the files' columns as text),
-- audit_csv_bad (filename, line: the lines DuckDB rejected, one row each). Row k read from a file
-- is its line k + 1 (the header is line 1) plus the rejected lines before it: the i-th rejected
-- line r_i of a file lies before row k exactly when r_i - i - 1 < k (the rows read before r_i
-- number r_i - 2 - (i - 1)).
WITH bad AS (
    SELECT
        filename,
        line - row_number() OVER (PARTITION BY filename ORDER BY line) - 1 AS before_row,
        row_number() OVER (PARTITION BY filename ORDER BY line) AS rejected
    FROM audit_csv_bad
)
SELECT r.* EXCLUDE (row_no), r.row_no + 1 + coalesce(b.rejected, 0) AS line
FROM audit_csv_rows AS r
ASOF LEFT JOIN bad AS b ON b.filename = r.filename AND b.before_row < r.row_no
