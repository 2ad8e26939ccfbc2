-- issued_slices: the slices of every closed month as they were when it was closed (the FOCUS export of a closed month reads these)
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- `reconcile close` keeps the month's slices files under closed/month=YYYY-MM/slices/ (hard links of
-- the files it issued); later runs of the month's days replace the output's slices, never these.
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/closed/*/slices/*/*.parquet',
    hive_partitioning = false,
    union_by_name = true
)
