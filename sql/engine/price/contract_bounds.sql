-- contract_bounds: per resource, the instants where a contract of a tenant the resource is attributed
-- to then starts or ends: pricing cuts the resource's slices there (slice_cuts), as at tenant changes,
-- so each slice is charged under one contract or none (docs/SPEC.md, "Contracts").
-- Inputs: `tenants` (resource_id, tenant_id, valid_from_ns, valid_to_ns), `contracts` (the contracts
-- file's table; empty without one: then no instant, and slices are cut exactly as before).
WITH bounds AS (
    SELECT tenant_id, effective_from_ns AS at_ns FROM contracts
    UNION
    SELECT tenant_id, effective_to_ns AS at_ns FROM contracts WHERE effective_to_ns IS NOT NULL
)
SELECT DISTINCT t.resource_id, b.at_ns
FROM tenants AS t
JOIN bounds AS b
  ON b.tenant_id = t.tenant_id
 AND (t.valid_from_ns IS NULL OR t.valid_from_ns <= b.at_ns)
 AND (t.valid_to_ns IS NULL OR b.at_ns < t.valid_to_ns)
