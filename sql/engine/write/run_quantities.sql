-- run_quantities: billed quantity of each period's slices per meter (in the meter's hours, 12 fraction
-- digits).
-- Input: `run_slice_sums` (slice_sums.sql of the periods counted together, run_period their index: _figures).
SELECT
    run_period,
    meter,
    CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity
FROM run_slice_sums
GROUP BY run_period, meter
ORDER BY run_period, meter
