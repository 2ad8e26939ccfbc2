-- slices_outside: per period, the slices of a chunk dated outside their unit's days (none, or the
-- pricing stage is wrong: the writer refuses them before writing a file).
-- Inputs: batch_slices (price_period: the unit), batch_units (price_period, batch_period, first_day,
-- last_day).
SELECT u.batch_period, count(*) AS slices
FROM batch_slices AS s
JOIN batch_units AS u USING (price_period)
WHERE s.usage_date IS NULL OR s.usage_date NOT BETWEEN u.first_day AND u.last_day
GROUP BY u.batch_period
ORDER BY u.batch_period
