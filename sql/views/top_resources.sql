-- top_resources: the resources billed the most over the output folder, per currency (top top_n, default 20)
-- Inputs: slices, intervals; variable top_n. rank is 1 for the largest amount in its currency (ties share a
-- rank). tenants lists every tenant the resource was billed to, comma-separated.
WITH interval_hypervisor AS (
    SELECT interval_id, min(hypervisor) AS hypervisor
    FROM intervals
    GROUP BY interval_id
),
per_resource AS (
    SELECT
        s.currency,
        s.family,
        s.resource_id,
        string_agg(DISTINCT s.tenant_id, ',' ORDER BY s.tenant_id) AS tenants,
        string_agg(DISTINCT h.hypervisor, ',' ORDER BY h.hypervisor) AS hypervisors,
        count(DISTINCT s.interval_id) AS intervals,
        min(s.usage_date) AS first_usage_date,
        max(s.usage_date) AS last_usage_date,
        CAST(sum(s.amount) AS DECIMAL(38, 12)) AS amount
    FROM slices AS s
    LEFT JOIN interval_hypervisor AS h ON h.interval_id = s.interval_id
    GROUP BY s.currency, s.family, s.resource_id
)
SELECT
    rank() OVER (PARTITION BY currency ORDER BY amount DESC) AS rank,
    *
FROM per_resource
QUALIFY rank() OVER (PARTITION BY currency ORDER BY amount DESC) <= coalesce(getvariable('top_n'), 20)
ORDER BY currency, rank, family, resource_id
