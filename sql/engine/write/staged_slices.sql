-- staged_slices: the batch's slices of one usage date of one period, as written to
-- slices/usage_date=<day>/ (before the committed rows a re-run keeps, kept_rows, are added).
-- Input: batch_slices (output_slices rows of the periods a session writes together, plus
-- batch_period). Parameters: $period (the period's name), $day (the usage date, YYYY-MM-DD).
SELECT b.* EXCLUDE (batch_period)
FROM batch_slices AS b
WHERE b.batch_period = $period AND b.usage_date = CAST($day AS DATE)
