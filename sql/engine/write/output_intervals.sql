-- output_intervals: the intervals of one period, as of its cut-off (SPEC section 5).
-- Input: the relation `intervals` from pairing (every interval before the cut-off).
-- An interval [start_ns, end_ns) belongs to the period [period_start_ns, period_end_ns) when it starts
-- before the period ends and is still open or ends at or after the period's start: every interval
-- overlapping the period, plus one whose end instant lies exactly on the period's start (its stop is
-- in the period, and an increment or minimum is billed there on a zero-length slice), plus a
-- zero-length interval at an instant inside the period. So every slice's interval is listed in its
-- period. Dropped intervals are kept (they have no slices).
-- period: the period's name (e.g. 2026-11-25), the value of the period= partition folder.
-- Rows are not sorted (sorting a month of them cost more than the rest of its writing).
SELECT
    i.*,
    getvariable('batch_period_name') AS period,
    getvariable('batch_run_id') AS run_id
FROM intervals AS i
WHERE
    i.start_ns < getvariable('batch_period_end_ns')
    AND (i.end_ns IS NULL OR i.end_ns >= getvariable('batch_period_start_ns'))
