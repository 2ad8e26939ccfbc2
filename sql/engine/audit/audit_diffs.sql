-- audit_diffs: at each snapshot instant of a batch, every resource whose state in the snapshot differs from the ledger's then.
-- Inputs: relations audit_snapshot (the rows the batch's snapshots list: observed_ns, file_no,
-- line, family, resource_id, cpu, mem_bytes, storage_bytes, hypervisor, tenant_id), audit_ledger,
-- audit_instants (idx, observed_ns, complete), audit_excluded (a resource a bad row left unknown
-- at an instant). Variables: audit_first_idx, audit_last_idx (the batch: instants numbered so).
-- `kind`: 'unbilled' (listed, no billed interval open then), 'unlisted' (a billed interval open,
-- not listed; only in a complete snapshot: elsewhere absence proves nothing), 'drift' (both, but
-- the priced shape differs: cpu and mem_bytes for vm.compute, storage_bytes for storage),
-- 'conflict' (listed twice in one snapshot with different shapes: neither is trusted),
-- 'repeated' (listed more than once alike: counted, the first line kept). The snapshot's columns
-- are those of its first line (by file, then line).
WITH state AS (
    SELECT
        unnest(range(greatest(first_idx, getvariable('audit_first_idx')),
                     least(end_idx, getvariable('audit_last_idx') + 1))) AS idx,
        interval_id, family, resource_id,
        CASE WHEN family = 'vm.compute' THEN [cpu, mem_bytes] ELSE [storage_bytes] END AS billed_shape
    FROM audit_ledger
    WHERE first_idx <= getvariable('audit_last_idx') AND end_idx > getvariable('audit_first_idx')
),

listed AS (
    SELECT
        i.idx,
        s.family,
        s.resource_id,
        count(*) AS rows,
        count(DISTINCT CASE WHEN s.family = 'vm.compute' THEN [s.cpu, s.mem_bytes] ELSE [s.storage_bytes] END)
            AS shapes,
        arg_min(
            {'cpu': s.cpu, 'mem_bytes': s.mem_bytes, 'storage_bytes': s.storage_bytes, 'hypervisor': s.hypervisor,
             'tenant_id': s.tenant_id, 'file_no': s.file_no, 'line': s.line},
            [s.file_no, s.line]
        ) AS first
    FROM audit_snapshot AS s
    JOIN audit_instants AS i USING (observed_ns)
    GROUP BY ALL
),

joined AS (
    SELECT
        idx, family, resource_id, l.rows, l.shapes, l.first, s.interval_id, s.billed_shape
    FROM listed AS l
    FULL JOIN state AS s USING (idx, family, resource_id)
),

judged AS (
    SELECT
        *,
        CASE
            WHEN shapes > 1 THEN 'conflict'
            WHEN interval_id IS NULL THEN 'unbilled'
            WHEN rows IS NULL THEN 'unlisted'
            WHEN billed_shape <> CASE WHEN family = 'vm.compute' THEN [first.cpu, first.mem_bytes]
                ELSE [first.storage_bytes] END THEN 'drift'
            WHEN rows > 1 THEN 'repeated'
        END AS kind
    FROM joined
)

SELECT
    j.idx, i.observed_ns, j.family, j.resource_id, j.kind, j.interval_id, j.rows,
    j.first.cpu AS cpu, j.first.mem_bytes AS mem_bytes, j.first.storage_bytes AS storage_bytes,
    j.first.hypervisor AS hypervisor, j.first.tenant_id AS tenant_id, j.first.file_no AS file_no,
    j.first.line AS line
FROM judged AS j
JOIN audit_instants AS i USING (idx)
ANTI JOIN audit_excluded AS x ON x.observed_ns = i.observed_ns AND x.family = j.family
    AND x.resource_id = j.resource_id
WHERE j.kind IS NOT NULL AND (j.kind <> 'unlisted' OR i.complete)
