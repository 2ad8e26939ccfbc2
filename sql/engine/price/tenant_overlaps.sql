-- tenant_overlaps: rows of the `tenants` relation whose validity overlaps an earlier row's for the
-- same resource (the stage refuses them: a slice must have at most one tenant).
-- Input: `tenants` (resource_id, tenant_id, valid_from_ns, valid_to_ns; NULL bounds are unbounded).
WITH ordered AS (
    SELECT
        resource_id,
        tenant_id,
        coalesce(valid_from_ns, -9223372036854775808) AS lo,
        -- the furthest end among the resource's earlier rows (NULL end = unbounded)
        max(coalesce(valid_to_ns, 9223372036854775807)) OVER (
            PARTITION BY resource_id
            ORDER BY coalesce(valid_from_ns, -9223372036854775808), tenant_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS reach
    FROM tenants
)
SELECT resource_id, tenant_id, lo AS valid_from_ns, reach AS earlier_valid_to_ns
FROM ordered
WHERE reach > lo
ORDER BY resource_id, lo
