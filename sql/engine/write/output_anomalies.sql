-- output_anomalies: the anomalies whose event lies in one period (SPEC section 5).
-- Input: the relation `anomalies` from pairing (every anomaly before the cut-off).
-- stale_open is about the open start (`at` is its instant, usually before the period) but it is a
-- statement about the cut-off: every run whose cut-off finds the interval stale reports it.
-- period: the period's name, the value of the period= partition folder.
-- Rows are sorted when the file is written (staged_rows).
SELECT
    a.*,
    getvariable('batch_period_name') AS period,
    getvariable('batch_run_id') AS run_id
FROM anomalies AS a
WHERE
    (a.at_ns >= getvariable('batch_period_start_ns') AND a.at_ns < getvariable('batch_period_end_ns'))
    OR a.code = 'stale_open'
