-- output_intervals: the intervals overlapping one period, as of its cut-off (SPEC section 5).
-- Input: the relation `intervals` from pairing (every interval before the cut-off).
-- An interval [start_ns, end_ns) overlaps [period_start_ns, period_end_ns) when it starts before the
-- period ends and ends after it starts or is still open; a zero-length interval belongs to the period
-- holding its instant. Dropped intervals are kept (they have no slices).
-- period: the period's name (e.g. 2026-11-25), the value of the period= partition folder.
SELECT
    i.*,
    getvariable('period_name') AS period,
    getvariable('run_id') AS run_id
FROM intervals AS i
WHERE
    i.start_ns < getvariable('period_end_ns')
    AND (
        i.end_ns IS NULL
        OR i.end_ns > getvariable('period_start_ns')
        OR (i.end_ns = i.start_ns AND i.start_ns >= getvariable('period_start_ns'))
    )
ORDER BY i.family, i.resource_id, i.start_ns, i.interval_id
