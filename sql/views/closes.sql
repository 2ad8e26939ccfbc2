-- closes: one row per closed month and period of it: when the month was closed, and the run the period was issued from
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- From closed/month=YYYY-MM/close.json, written by `reconcile close` in the same commit as the
-- month's issued_lines; `period` is each period of the month (its days, or the month) and `run_id` the
-- run it was issued from (a later run of the period is billed as a correction).
SELECT
    CAST(month || '-01' AS DATE) AS invoice_month,
    CAST(closed_at AS TIMESTAMPTZ_NS) AS closed_at,
    unnest(map_keys(runs)) AS period,
    runs[period] AS run_id,
    versions[period] AS version  -- the bill version issued (bill_versions)
FROM read_json(
    getvariable('output_dir') || '/closed/*/close.json',
    columns = {
        month: 'VARCHAR', closed_at: 'VARCHAR', runs: 'MAP(VARCHAR, VARCHAR)', versions: 'MAP(VARCHAR, BIGINT)'
    }
)
ORDER BY invoice_month, period
