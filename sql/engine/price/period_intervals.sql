-- period_intervals: the intervals each unit priced together bills in [period_start_ns,
-- period_end_ns), with their billed bounds inside it and the extra billed time (increment and
-- minimum) of their end; keyed by (price_period, interval_id): an interval is billed in every unit
-- it overlaps.
-- A unit is a period, or one UTC day of a period (a month is priced a day at a time): slices never
-- cross a midnight and an interval's extra lands on the day of its end, so a period's slices are the
-- union of its days' (the bounds below are the unit's, the intervals those of its input period).
-- Inputs: `price_input` (the `intervals` of the ARCHITECTURE contract, each row with the period
-- it is priced in, price_period), `price_periods` (price_period: the unit; input_period: the
-- price_period of its rows in price_input; period_start_ns, period_end_ns: the unit's bounds;
-- cut_off_ns: the period's cut-off; BIGINT Unix nanoseconds), `billing_rules` (family, increment_ns,
-- minimum_ns). price_input's price_last_ns: end_ns, or the largest BIGINT for an open interval.
-- Variables: price_units_start_ns, price_units_end_ns (the earliest start and the latest end of the
-- units: two comparisons DuckDB checks against each row group's range of start_ns and
-- price_last_ns, so a day of a month reads the row groups of intervals that can overlap it only).
WITH bounds AS (
    SELECT
        q.price_period, i.interval_id, i.family, i.resource_id, i.hypervisor, i.status,
        i.cpu, i.mem_bytes, i.storage_bytes, i.start_ns, i.end_ns, q.period_start_ns,
        -- billed part of the interval inside the period; an open interval runs up to the cut-off
        greatest(i.start_ns, q.period_start_ns) AS bill_start_ns,
        least(
            CASE WHEN i.status = 'open' THEN q.cut_off_ns ELSE i.end_ns END,
            q.period_end_ns
        ) AS bill_end_ns,
        -- the end instant belongs to this period (closed and inferred intervals only)
        (i.status IN ('closed', 'inferred')
            AND i.end_ns >= q.period_start_ns
            AND i.end_ns < q.period_end_ns) AS end_in_period,
        b.increment_ns, coalesce(b.minimum_ns, 0) AS minimum_ns
    FROM (
        SELECT * EXCLUDE (price_last_ns) FROM price_input
        WHERE start_ns < getvariable('price_units_end_ns')
          AND price_last_ns >= getvariable('price_units_start_ns')
    ) AS i
    JOIN price_periods AS q ON q.input_period = i.price_period
    LEFT JOIN billing_rules AS b ON b.family = i.family
    WHERE i.status IN ('closed', 'inferred', 'open')
      AND i.start_ns < q.period_end_ns
      AND (i.status = 'open' OR i.end_ns >= q.period_start_ns)
),
extra AS (
    SELECT
        *,
        -- billed beyond consumed for the whole interval: rounded up to the increment, at least the
        -- minimum; only where the interval's end lies in this period (it is billed once, there)
        CASE WHEN end_in_period THEN
            greatest(
                CASE WHEN increment_ns IS NULL THEN end_ns - start_ns
                     ELSE (end_ns - start_ns + increment_ns - 1) // increment_ns * increment_ns END,
                minimum_ns
            ) - (end_ns - start_ns)
        ELSE 0 END AS extra_ns,
        -- the end has a positive slice of its own UTC day (and period) ending at it: the extra goes
        -- there; otherwise (zero length, or an end exactly on a midnight or the period start) it goes on
        -- a zero-length slice [end, end)
        (end_in_period AND end_ns > start_ns AND end_ns > period_start_ns
            AND end_ns % getvariable('price_ns_per_day') <> 0) AS extra_on_last_slice
    FROM bounds
)
SELECT
    price_period, interval_id, family, resource_id, hypervisor, status, cpu, mem_bytes, storage_bytes,
    start_ns, end_ns, bill_start_ns, bill_end_ns, extra_ns, extra_on_last_slice,
    -- a zero-length slice [end_ns, end_ns) carries the end's extra, or stands for a zero-length interval
    (end_in_period AND NOT extra_on_last_slice AND (extra_ns > 0 OR end_ns = start_ns)) AS zero_end_slice
FROM extra
WHERE bill_start_ns < bill_end_ns
   OR (end_in_period AND NOT extra_on_last_slice AND (extra_ns > 0 OR end_ns = start_ns))
