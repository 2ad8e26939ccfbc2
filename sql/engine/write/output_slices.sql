-- output_slices: one run's priced slices as written to slices/usage_date=.../ (SPEC section 5).
-- Input: the relation `slices` from the pricing stage (one row per slice and meter).
-- run_id: the run that wrote the row (getvariable('batch_run_id')); every row of a period has the same one.
-- Rows are not sorted: sorting doubled the time to write a month, and row order carries no meaning.
SELECT
    s.*,
    getvariable('batch_run_id') AS run_id
FROM slices AS s
