-- daily_spend: per usage day, family, hypervisor, tenant, meter and currency: slices, quantities and amounts
-- Inputs: slices, intervals. The hypervisor comes from the interval (slices do not carry it). tenant_id NULL
-- is unattributed usage. Quantities are in the meter's hours; amounts are the exact sums of slice amounts
-- (12 fraction digits, not rounded to the currency's minor unit: see invoice_lines for that).
WITH interval_hypervisor AS (
    SELECT interval_id, min(hypervisor) AS hypervisor
    FROM intervals
    GROUP BY interval_id
)
SELECT
    s.usage_date,
    s.family,
    h.hypervisor,
    s.tenant_id,
    s.meter,
    s.currency,
    count(*) AS slices,
    count(DISTINCT s.resource_id) AS resources,
    CAST(sum(s.quantity) AS DECIMAL(38, 12)) AS quantity,  -- consumed
    CAST(sum(s.billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity,  -- after increments and minimums
    CAST(sum(s.amount) AS DECIMAL(38, 12)) AS amount
FROM slices AS s
LEFT JOIN interval_hypervisor AS h ON h.interval_id = s.interval_id
GROUP BY s.usage_date, s.family, h.hypervisor, s.tenant_id, s.meter, s.currency
ORDER BY s.usage_date, s.family, h.hypervisor, s.tenant_id, s.meter, s.currency
