-- slice_cuts: per billed interval of each unit (price_period, interval_id), the instants strictly
-- inside its billed part where a slice starts: every UTC midnight, change of a price that applies to
-- it, and tenant change (its billed start is not listed: slice_spans adds it, and an interval with no
-- cut at all, most of them when a unit is a day, is one slice).
-- A price applies to an interval at an instant when it is the one its meter is priced by there: the
-- hypervisor's override if one holds, else the default (as slices.sql chooses). An instant where some
-- price of the family starts or ends is a cut only if, for some meter of the family, the price applied
-- just before it (1 ns earlier) differs from the one applied at it: a default price that changes while
-- the interval's hypervisor has its own price does not cut the interval. All meters of a family are
-- cut together. Where a contract of the resource's tenant starts or ends (contract_bounds; none without
-- a contracts file) is a cut too.
-- Inputs: `period_intervals`, `prices` (the price table), `meters` (each family's meters:
-- reconcile._core._families), `tenants` (resource_id, tenant_id, valid_from_ns, valid_to_ns),
-- `contract_bounds` (resource_id, at_ns).
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
    SELECT price_period, interval_id, bill_start_ns, bill_end_ns, family, hypervisor, resource_id
    FROM period_intervals
    WHERE bill_start_ns < bill_end_ns
),
candidates AS (
    -- instants inside an interval's billed part where some price that could apply to it starts or ends
    SELECT DISTINCT s.price_period, s.interval_id, s.family, s.hypervisor, c.at_ns
    FROM sliced AS s
    JOIN price_changes AS c
      ON c.family = s.family
     AND (c.hypervisor IS NULL OR c.hypervisor = s.hypervisor)
     AND c.at_ns > s.bill_start_ns AND c.at_ns < s.bill_end_ns
),
applied AS (
    -- per candidate and meter, the price entry applied just before the instant (before = 1) and at it
    SELECT
        k.price_period,
        k.interval_id,
        k.at_ns,
        m.meter,
        b.before,
        coalesce(o.entry, d.entry) AS entry
    FROM candidates AS k
    JOIN meters AS m ON m.family = k.family
    CROSS JOIN (SELECT 0 AS before UNION ALL SELECT 1 AS before) AS b
    LEFT JOIN prices AS o
      ON o.family = k.family AND o.meter = m.meter AND o.hypervisor = k.hypervisor
     AND o.effective_from_ns <= k.at_ns - b.before
     AND (o.effective_to_ns IS NULL OR k.at_ns - b.before < o.effective_to_ns)
    LEFT JOIN prices AS d
      ON d.family = k.family AND d.meter = m.meter AND d.hypervisor IS NULL
     AND d.effective_from_ns <= k.at_ns - b.before
     AND (d.effective_to_ns IS NULL OR k.at_ns - b.before < d.effective_to_ns)
),
price_cuts AS (
    SELECT DISTINCT price_period, interval_id, at_ns
    FROM (
        SELECT
            price_period,
            interval_id,
            at_ns,
            max(entry) FILTER (WHERE before = 1) AS entry_before,
            max(entry) FILTER (WHERE before = 0) AS entry_at
        FROM applied
        GROUP BY price_period, interval_id, at_ns, meter
    ) AS per_meter
    WHERE entry_before IS DISTINCT FROM entry_at
)
-- UTC midnights after the billed start and before the billed end (DuckDB's range(): no portable way)
SELECT price_period, interval_id, unnest(range(
    (bill_start_ns // getvariable('price_ns_per_day') + 1) * getvariable('price_ns_per_day'), bill_end_ns, getvariable('price_ns_per_day')
)) AS cut_ns
FROM sliced
UNION
SELECT price_period, interval_id, at_ns AS cut_ns FROM price_cuts
UNION
SELECT s.price_period, s.interval_id, t.at_ns AS cut_ns
FROM sliced AS s
JOIN tenant_changes AS t
  ON t.resource_id = s.resource_id
 AND t.at_ns > s.bill_start_ns AND t.at_ns < s.bill_end_ns
UNION
SELECT s.price_period, s.interval_id, b.at_ns AS cut_ns
FROM sliced AS s
JOIN contract_bounds AS b
  ON b.resource_id = s.resource_id
 AND b.at_ns > s.bill_start_ns AND b.at_ns < s.bill_end_ns
