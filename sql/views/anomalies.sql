-- anomalies: every anomaly recorded by the runs in the output folder; period from the hive partition
-- Input: variable output_dir. Codes: double_start, orphan_stop, double_stop, shape_mismatch, stale_open.
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/anomalies/**/*.parquet',
    hive_partitioning = true,
    hive_types = {'period': VARCHAR},
    union_by_name = true
)
