-- issued_lines: the invoice lines of every closed month as `reconcile close` froze them (never rewritten)
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- One file per closed month (closed/month=YYYY-MM/issued_lines.parquet), with the columns of
-- invoice_lines: the month's usage lines as they were when it was closed, and the corrections of
-- earlier closed months that were billed in it.
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/closed/*/issued_lines.parquet',
    hive_partitioning = false,
    union_by_name = true  -- months closed before contracts existed have no list or contract columns
)
