-- staged_slices: the slices of one unit of one usage date, as written to slices/usage_date=<day>/
-- (before the committed rows a re-run keeps, kept_rows, are added), with the run_id of the run
-- writing them (SPEC section 5). Rows are not sorted: sorting doubled the time to write a month, and
-- row order carries no meaning.
-- Input: batch_slices (the priced slices of a chunk of units, each row with its unit's price_period).
-- Parameters: $unit (the unit's key), $day (the usage date, YYYY-MM-DD), $run_id.
SELECT b.* EXCLUDE (price_period), CAST($run_id AS VARCHAR) AS run_id
FROM batch_slices AS b
WHERE b.price_period = $unit AND b.usage_date = CAST($day AS DATE)
