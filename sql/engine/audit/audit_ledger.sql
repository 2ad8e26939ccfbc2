-- audit_ledger: the intervals the ledger bills in the audit's window, each with the snapshot instants it covers as a range of their numbers.
-- Inputs: relations intervals (the pairing walk as of the audit's cut-off, those overlapping its
-- window: docs/ARCHITECTURE.md), audit_instants (idx from 0, observed_ns: the snapshot instants
-- compared, in order). Only billed intervals count (closed, inferred, open; a dropped one is not
-- billed, a zero-length one covers no instant). An interval [start, end) (open: to the end of
-- time, as the walk stands at the cut-off) covers an instant t when start <= t < end: the
-- instants numbered first_idx (those before start) up to end_idx (those before end), excluded.
WITH billed AS (
    SELECT
        interval_id, family, resource_id, hypervisor, status, cpu, mem_bytes, storage_bytes, start_ns, end_ns,
        coalesce(end_ns, CAST(9223372036854775807 AS BIGINT)) AS until_ns
    FROM intervals
    WHERE status IN ('closed', 'inferred', 'open') AND (end_ns IS NULL OR end_ns > start_ns)
)
SELECT
    b.*,
    coalesce(f.idx + 1, 0) AS first_idx,
    coalesce(e.idx + 1, 0) AS end_idx
FROM billed AS b
ASOF LEFT JOIN audit_instants AS f ON f.observed_ns < b.start_ns
ASOF LEFT JOIN audit_instants AS e ON e.observed_ns < b.until_ns
ORDER BY first_idx
