-- slice_cuts: per billed interval, the instants where its slices start: its billed start, every UTC
-- midnight, price change and tenant change strictly inside its billed part of the period.
-- Inputs: `period_intervals`, `prices` (the price table), `tenants` (resource_id, tenant_id,
-- valid_from_ns, valid_to_ns).
WITH price_changes AS (
    -- instants where some price of a family changes; hypervisor NULL = a default price (applies to all)
    SELECT DISTINCT family, hypervisor, effective_from_ns AS at_ns FROM prices
    UNION
    SELECT DISTINCT family, hypervisor, effective_to_ns AS at_ns FROM prices WHERE effective_to_ns IS NOT NULL
),
tenant_changes AS (
    SELECT DISTINCT resource_id, valid_from_ns AS at_ns FROM tenants WHERE valid_from_ns IS NOT NULL
    UNION
    SELECT DISTINCT resource_id, valid_to_ns AS at_ns FROM tenants WHERE valid_to_ns IS NOT NULL
),
sliced AS (
    SELECT interval_id, bill_start_ns, bill_end_ns, family, hypervisor, resource_id
    FROM period_intervals
    WHERE bill_start_ns < bill_end_ns
)
SELECT interval_id, bill_start_ns AS cut_ns FROM sliced
UNION
-- UTC midnights after the billed start and before the billed end (DuckDB's range(): no portable way)
SELECT interval_id, unnest(range(
    (bill_start_ns // getvariable('ns_per_day') + 1) * getvariable('ns_per_day'), bill_end_ns, getvariable('ns_per_day')
)) AS cut_ns
FROM sliced
UNION
SELECT s.interval_id, c.at_ns AS cut_ns
FROM sliced AS s
JOIN price_changes AS c
  ON c.family = s.family
 AND (c.hypervisor IS NULL OR c.hypervisor = s.hypervisor)
 AND c.at_ns > s.bill_start_ns AND c.at_ns < s.bill_end_ns
UNION
SELECT s.interval_id, t.at_ns AS cut_ns
FROM sliced AS s
JOIN tenant_changes AS t
  ON t.resource_id = s.resource_id
 AND t.at_ns > s.bill_start_ns AND t.at_ns < s.bill_end_ns
