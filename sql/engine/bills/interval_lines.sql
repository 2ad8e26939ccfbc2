-- interval_lines: per interval, meter, tenant and currency of one period's version: its quantities and exact amount, and the interval's events
-- Inputs: slices (one period's slices), intervals (that period's intervals), in a connection of their own. An interval
-- without slices (dropped, or outside every price) is one row with NULL meter and amounts.
-- Kept for every replaced version (history/.../interval_lines.parquet) so `reconcile diff` can say,
-- interval by interval, what changed and which events (start_source, end_source) it comes from.
WITH per_meter AS (
    SELECT
        interval_id,
        tenant_id,
        currency,
        meter,
        count(*) AS slices,
        CAST(sum(quantity) AS DECIMAL(38, 12)) AS quantity,
        CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity,
        CAST(sum(amount) AS DECIMAL(38, 12)) AS amount
    FROM slices
    GROUP BY interval_id, tenant_id, currency, meter
)
SELECT
    i.interval_id,
    i.family,
    i.resource_id,
    m.tenant_id,
    m.currency,
    m.meter,
    m.slices,
    m.quantity,
    m.billed_quantity,
    m.amount,
    i.status,
    i.start_at,
    i.end_at,
    i.start_source,
    i.end_source
FROM intervals AS i
LEFT JOIN per_meter AS m ON m.interval_id = i.interval_id
ORDER BY i.family, i.resource_id, i.interval_id, m.meter, m.tenant_id, m.currency
