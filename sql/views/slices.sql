-- slices: every priced slice and meter in the output folder (SPEC section 5), usage_date from the hive partition
-- Input: variable output_dir (the output folder). One row per slice and meter, over every run in the folder
-- (each period is written by exactly one run, so nothing is counted twice).
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/slices/**/*.parquet',
    hive_partitioning = true,
    hive_types = {'usage_date': DATE},
    union_by_name = true
)
