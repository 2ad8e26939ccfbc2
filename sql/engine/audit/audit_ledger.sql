-- audit_ledger: the intervals the ledger bills in the audit's window, each with the snapshot instants it covers as a range of their numbers.
-- Inputs: relations audit_billed (the billed intervals, with until_ns), audit_instants (idx from 0,
-- observed_ns: the snapshot instants compared, in order). An interval [start, until) covers an
-- instant t when start <= t < until: the instants numbered first_idx (those before start) up to
-- end_idx (those before until), excluded. Ordered by first_idx, so a batch of instants reads the
-- row groups that can cover it.
SELECT
    b.*,
    coalesce(f.idx + 1, 0) AS first_idx,
    coalesce(e.idx + 1, 0) AS end_idx
FROM audit_billed AS b
ASOF LEFT JOIN audit_instants AS f ON f.observed_ns < b.start_ns
ASOF LEFT JOIN audit_instants AS e ON e.observed_ns < b.until_ns
ORDER BY first_idx
