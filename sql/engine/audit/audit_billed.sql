-- audit_billed: the intervals the ledger bills in the audit's window, as the pairing walk has them at its cut-off.
-- Input: relation intervals (the walk as of the audit's cut-off, those overlapping its window:
-- docs/ARCHITECTURE.md). Only billed intervals count: closed, inferred and open ones (a dropped one
-- is not billed) that last (a zero-length one covers no instant). `until_ns`: the end, or the end
-- of time for an open one (the walk as it stands at the cut-off).
SELECT
    interval_id, family, resource_id, hypervisor, status, cpu, mem_bytes, storage_bytes, start_ns, end_ns,
    coalesce(end_ns, CAST(9223372036854775807 AS BIGINT)) AS until_ns
FROM intervals
WHERE status IN ('closed', 'inferred', 'open') AND (end_ns IS NULL OR end_ns > start_ns)
