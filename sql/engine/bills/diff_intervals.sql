-- diff_intervals: per interval, meter, tenant and currency, what changed between two versions of a period's bill, with the events behind it
-- Inputs: before_intervals, after_intervals (interval_lines of each version). change is 'added' (only
-- after), 'removed' (only before) or 'changed' (amount, quantity, status or an event differ); the
-- start and stop events are given as file:line on both sides, so the line that made the difference
-- can be read in the ledger.
SELECT
    CASE WHEN b.interval_id IS NULL THEN 'added' WHEN a.interval_id IS NULL THEN 'removed' ELSE 'changed' END
        AS change,
    coalesce(a.interval_id, b.interval_id) AS interval_id,
    coalesce(a.family, b.family) AS family,
    coalesce(a.resource_id, b.resource_id) AS resource_id,
    coalesce(a.tenant_id, b.tenant_id) AS tenant_id,
    coalesce(a.currency, b.currency) AS currency,
    coalesce(a.meter, b.meter) AS meter,
    b.amount AS amount_before,
    a.amount AS amount_after,
    CAST(coalesce(a.amount, 0) - coalesce(b.amount, 0) AS DECIMAL(38, 12)) AS difference,
    b.status AS status_before,
    a.status AS status_after,
    b.end_at AS end_before,
    a.end_at AS end_after,
    coalesce(a.start_source, b.start_source) AS start_source,
    b.end_source AS end_source_before,
    a.end_source AS end_source_after
FROM after_intervals AS a
FULL OUTER JOIN before_intervals AS b
    ON b.interval_id = a.interval_id
    AND b.meter IS NOT DISTINCT FROM a.meter
    AND b.tenant_id IS NOT DISTINCT FROM a.tenant_id
    AND b.currency IS NOT DISTINCT FROM a.currency
WHERE a.interval_id IS NULL OR b.interval_id IS NULL
   OR a.amount IS DISTINCT FROM b.amount
   OR a.quantity IS DISTINCT FROM b.quantity
   OR a.status IS DISTINCT FROM b.status
   OR a.end_at IS DISTINCT FROM b.end_at
   OR a.start_source IS DISTINCT FROM b.start_source
   OR a.end_source IS DISTINCT FROM b.end_source
ORDER BY abs(coalesce(a.amount, 0) - coalesce(b.amount, 0)) DESC, family, resource_id, interval_id, meter
