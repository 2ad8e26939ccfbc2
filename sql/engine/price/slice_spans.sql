-- slice_spans: the slices of the billed intervals before pricing, one row per slice: an interval of a
-- unit (price_period, interval_id) without a cut inside its billed part is one slice; one with cuts
-- (slice_cuts) is cut there; plus the zero-length slice [end, end) where period_intervals asks for one.
-- Inputs: `period_intervals`, `slice_cuts`, `tenants`.
-- at_ns: the instant whose tenant and price the slice takes: its start; for the zero-length slice of an
-- interval that lasted (its end fell on a midnight or the period's start), the interval's last instant
-- (end - 1 ns), since its extra is billed for that interval, not for whatever starts at that midnight.
-- tenant_id: the tenant whose validity holds at_ns, joined here for resources with at most
-- price_few_ranges validity ranges (each slice compared with each range of its resource: linear for a
-- bounded number of ranges); for a resource with more, NULL here and set afterwards from
-- many_range_tenants.sql (an ASOF join over that resource's slices only: 200,000 ranges of one
-- resource in a day compared pairwise took minutes).
WITH tenant_ranges AS (
    SELECT *, count(*) OVER (PARTITION BY resource_id) AS ranges FROM tenants
),
cut AS (
    -- the billed intervals with a cut inside: their billed start and their cuts, in order
    SELECT price_period, interval_id, cut_ns FROM slice_cuts
    UNION ALL
    SELECT p.price_period, p.interval_id, p.bill_start_ns AS cut_ns
    FROM period_intervals AS p
    SEMI JOIN (SELECT DISTINCT price_period, interval_id FROM slice_cuts) AS c
        ON c.price_period = p.price_period AND c.interval_id = p.interval_id
    WHERE p.bill_start_ns < p.bill_end_ns
),
spans AS (
    SELECT
        price_period,
        interval_id,
        bill_start_ns AS slice_start_ns,
        bill_end_ns AS slice_end_ns,
        bill_start_ns AS at_ns
    FROM period_intervals AS p
    ANTI JOIN slice_cuts AS c ON c.price_period = p.price_period AND c.interval_id = p.interval_id
    WHERE p.bill_start_ns < p.bill_end_ns
    UNION ALL
    SELECT
        c.price_period,
        c.interval_id,
        c.cut_ns AS slice_start_ns,
        coalesce(
            lead(c.cut_ns) OVER (PARTITION BY c.price_period, c.interval_id ORDER BY c.cut_ns), p.bill_end_ns
        )
            AS slice_end_ns,
        c.cut_ns AS at_ns
    FROM cut AS c
    JOIN period_intervals AS p USING (price_period, interval_id)
    UNION ALL
    SELECT
        price_period,
        interval_id,
        end_ns AS slice_start_ns,
        end_ns AS slice_end_ns,
        CASE WHEN end_ns > start_ns THEN end_ns - 1 ELSE end_ns END AS at_ns
    FROM period_intervals
    WHERE zero_end_slice
)
SELECT
    p.price_period, p.interval_id, p.family, p.resource_id, p.hypervisor, p.status,
    p.cpu, p.mem_bytes, p.storage_bytes,
    t.tenant_id,                                   -- NULL: unattributed
    s.slice_start_ns,
    s.slice_end_ns,
    s.at_ns,
    s.slice_end_ns - s.slice_start_ns AS seconds_ns,   -- consumed, exact nanoseconds
    -- billed: consumed, plus the interval's extra on the slice holding its end
    s.slice_end_ns - s.slice_start_ns
        + CASE WHEN s.slice_end_ns = p.end_ns
                AND (s.slice_start_ns = s.slice_end_ns OR p.extra_on_last_slice)
               THEN p.extra_ns ELSE 0 END AS billed_ns
FROM spans AS s
JOIN period_intervals AS p USING (price_period, interval_id)
LEFT JOIN tenant_ranges AS t
  ON t.resource_id = p.resource_id
 AND t.ranges <= getvariable('price_few_ranges')
 AND (t.valid_from_ns IS NULL OR t.valid_from_ns <= s.at_ns)
 AND (t.valid_to_ns IS NULL OR s.at_ns < t.valid_to_ns)
