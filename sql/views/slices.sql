-- slices: every priced slice and meter in the output folder (SPEC section 5), usage_date as each file holds it
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- One row per slice and meter, over every run in the folder (each period is written by exactly one
-- run, so nothing is counted twice).
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/slices/**/*.parquet',
    hive_partitioning = false,  -- each file carries its own partition column; a folder
                                -- name above the output holding '=' must not add columns
    union_by_name = true
)
