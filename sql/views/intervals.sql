-- intervals: every interval of every run in the output folder, as of that run's cut-off; period as each file holds it
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- An interval that spans several periods has one row per period (its status can change from one to
-- the next: open, then closed); use the row of the latest period for its final state.
SELECT *
FROM read_parquet(
    getvariable('output_dir') || '/intervals/**/*.parquet',
    hive_partitioning = false,  -- each file carries its own partition column; a folder
                                -- name above the output holding '=' must not add columns
    union_by_name = true
)
