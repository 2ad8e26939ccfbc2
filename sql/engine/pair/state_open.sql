-- state_open: the walk's open intervals at an instant M (a checkpoint's open set): the start events
-- before M whose next event is at or after M, or none. One row per resource that is open at M.
-- Input: relation pair_steps. Variable: pair_state_at_ns (M, at most the walk's end).
SELECT
    event_id, family, resource_id, vm_id, snapshot_id, source_snapshot_id, reason, hypervisor,
    cpu, mem_bytes, storage_bytes, emitted_ns, source_file, source_line
FROM pair_steps
WHERE endpoint = 'start'
  AND emitted_ns < getvariable('pair_state_at_ns')
  AND (next_ns IS NULL OR next_ns >= getvariable('pair_state_at_ns'))
