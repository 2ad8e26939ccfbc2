-- anomalies: every anomaly recorded by the runs in the output folder; period as each file holds it
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- Codes: double_start, orphan_stop, double_stop, shape_mismatch, stale_open.
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/anomalies/**/*.parquet',
    hive_partitioning = false,  -- each file carries its own partition column; a folder
                                -- name above the output holding '=' must not add columns
    union_by_name = true
)
