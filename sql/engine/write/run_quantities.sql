-- run_quantities: billed quantity of a run's slices per meter (in the meter's hours, 12 fraction digits).
-- Input: `run_slices` (a period's written slices: _figures).
SELECT
    meter,
    CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity
FROM run_slices
GROUP BY meter
ORDER BY meter
