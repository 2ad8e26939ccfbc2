-- staged_intervals: the batch's intervals of one period, as written to intervals/period=<period>/
-- (before the committed rows a re-run keeps, kept_rows, are added; rows are not sorted).
-- Input: batch_intervals (output_intervals rows plus batch_period). Parameter: $period.
SELECT b.* EXCLUDE (batch_period)
FROM batch_intervals AS b
WHERE b.batch_period = $period
