-- many_range_tenants: the tenant of each slice of a resource with more than price_few_ranges validity ranges
-- Input: `slice_spans` (its tenant_id is NULL for these resources), `tenants`.
-- A resource's ranges never overlap (the stage refuses them), so the tenant at a slice's at_ns is the one
-- whose range starts last at or before it, if that range has not ended: an ASOF join finds it in time
-- linear in these slices and ranges. Only these resources' slices are sorted for it (an ASOF join sorts
-- its input: all the slices of a batch would cost a sort of them, and its memory).
WITH many AS (
    SELECT resource_id, tenant_id, coalesce(valid_from_ns, -9223372036854775808) AS lo_ns, valid_to_ns
    FROM tenants
    WHERE resource_id IN (
        SELECT resource_id FROM tenants GROUP BY resource_id HAVING count(*) > getvariable('price_few_ranges')
    )
),

points AS (
    SELECT price_period, interval_id, slice_start_ns, slice_end_ns, resource_id, at_ns
    FROM slice_spans
    WHERE resource_id IN (SELECT resource_id FROM many)
)

SELECT
    pt.price_period,
    pt.interval_id,
    pt.slice_start_ns,
    pt.slice_end_ns,
    CASE WHEN m.valid_to_ns IS NULL OR pt.at_ns < m.valid_to_ns THEN m.tenant_id END AS tenant_id
FROM points AS pt
ASOF LEFT JOIN many AS m
  ON m.resource_id = pt.resource_id
 AND pt.at_ns >= m.lo_ns
