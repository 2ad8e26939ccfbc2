-- slice_sums: what the manifest's figures are read from, per period (run_period), usage date, tenant,
-- currency, family and meter: the slices' count and the sums of their quantities and amounts (exact,
-- 12 fraction digits). Sums of these sums are the sums of the slices, so the writer adds a chunk's
-- sums as it writes its files, and the figures never read the month's slices back.
-- Input: `summed_slices` (slice rows, each with its run_period).
SELECT
    run_period,
    usage_date,
    tenant_id,
    currency,
    family,
    meter,
    count(*) AS slices,
    CAST(sum(quantity) AS DECIMAL(38, 12)) AS quantity,
    CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity,
    CAST(sum(amount) AS DECIMAL(38, 12)) AS amount
FROM summed_slices
GROUP BY ALL
