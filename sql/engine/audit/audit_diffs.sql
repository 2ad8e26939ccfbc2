-- audit_diffs: at each snapshot instant of a batch, every resource whose state in the snapshot differs from the ledger's then.
-- Inputs: relations audit_snapshot (the rows the batch's snapshots list: observed_ns, file_no,
-- line, family, resource_id, cpu, mem_bytes, storage_bytes, hypervisor, tenant_id), audit_ledger,
-- audit_instants (idx, observed_ns, complete), audit_excluded (a resource a bad row left unknown
-- at an instant). Variables: audit_first_idx, audit_last_idx (the batch: instants numbered so).
-- `kind`: 'unbilled' (listed, no billed interval open then), 'unlisted' (a billed interval open,
-- not listed; only in a complete snapshot: elsewhere absence proves nothing), 'drift' (both, but
-- the priced shape differs: cpu and mem_bytes for vm.compute, storage_bytes for storage),
-- 'conflict' (listed twice in one snapshot with different shapes: neither is trusted),
-- 'repeated' (listed more than once alike: counted, the first line kept). The snapshot's
-- hypervisor and tenant are those of its first line (by file, then line); its shape, the same on
-- every line unless they conflict.
WITH state AS (
    SELECT
        unnest(range(greatest(first_idx, getvariable('audit_first_idx')),
                     least(end_idx, getvariable('audit_last_idx') + 1))) AS idx,
        interval_id, family, resource_id, cpu AS billed_cpu, mem_bytes AS billed_mem,
        storage_bytes AS billed_storage
    FROM audit_ledger
    WHERE first_idx <= getvariable('audit_last_idx') AND end_idx > getvariable('audit_first_idx')
),

listed AS (
    -- (min and max per shape member, a BIGINT key for the first row: aggregates of lists or
    -- structs cost ten times as much on a batch of millions of rows)
    SELECT
        i.idx,
        s.family,
        s.resource_id,
        count(*) AS rows,
        min(s.cpu) AS cpu, max(s.cpu) AS max_cpu,
        min(s.mem_bytes) AS mem_bytes, max(s.mem_bytes) AS max_mem,
        min(s.storage_bytes) AS storage_bytes, max(s.storage_bytes) AS max_storage,
        arg_min(s.hypervisor, s.file_no * 1099511627776 + s.line) AS hypervisor,
        arg_min(s.tenant_id, s.file_no * 1099511627776 + s.line) AS tenant_id,
        min(s.file_no * 1099511627776 + s.line) AS first_row
    FROM audit_snapshot AS s
    JOIN audit_instants AS i USING (observed_ns)
    GROUP BY ALL
),

joined AS (
    SELECT
        idx, family, resource_id, l.rows, l.cpu, l.mem_bytes, l.storage_bytes, l.hypervisor, l.tenant_id,
        l.first_row, s.interval_id,
        CASE WHEN family = 'vm.compute' THEN l.cpu <> l.max_cpu OR l.mem_bytes <> l.max_mem
            ELSE l.storage_bytes <> l.max_storage END AS conflicting,
        CASE WHEN family = 'vm.compute' THEN l.cpu <> s.billed_cpu OR l.mem_bytes <> s.billed_mem
            ELSE l.storage_bytes <> s.billed_storage END AS drifting
    FROM listed AS l
    FULL JOIN state AS s USING (idx, family, resource_id)
),

judged AS (
    SELECT
        *,
        CASE
            WHEN conflicting THEN 'conflict'
            WHEN interval_id IS NULL THEN 'unbilled'
            WHEN rows IS NULL THEN 'unlisted'
            WHEN drifting THEN 'drift'
            WHEN rows > 1 THEN 'repeated'
        END AS kind
    FROM joined
)

SELECT
    j.idx, i.observed_ns, j.family, j.resource_id, j.kind, j.interval_id, j.rows,
    j.cpu, j.mem_bytes, j.storage_bytes, j.hypervisor, j.tenant_id,
    j.first_row // 1099511627776 AS file_no, j.first_row % 1099511627776 AS line
FROM judged AS j
JOIN audit_instants AS i USING (idx)
ANTI JOIN audit_excluded AS x ON x.observed_ns = i.observed_ns AND x.family = j.family
    AND x.resource_id = j.resource_id
WHERE j.kind IS NOT NULL AND (j.kind <> 'unlisted' OR i.complete)
