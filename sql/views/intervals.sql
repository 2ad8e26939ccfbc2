-- intervals: every interval of every run in the output folder, as of that run's cut-off; period from the hive partition
-- Input: variable output_dir. An interval that spans several periods has one row per period (its status can
-- change from one to the next: open, then closed); use the row of the latest period for its final state.
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/intervals/**/*.parquet',
    hive_partitioning = true,
    hive_types = {'period': VARCHAR},
    union_by_name = true
)
