-- pair_window: the events the pairing walk reads, those in [walk_from_ns, walk_to_ns), with the
-- columns the walk carries (a view over the store's files: the window pass sorts them once, and the
-- counts of the role identity read their instants only).
-- Input: relation events (the store). Variables: pair_walk_from_ns (BIGINT, NULL: from the start of
-- history), pair_walk_to_ns (BIGINT: the walk's end, the latest cut-off it serves).
SELECT
    event_id, family, endpoint, resource_id, vm_id, snapshot_id, source_snapshot_id, reason,
    hypervisor, cpu, mem_bytes, storage_bytes, emitted_ns, source_file, source_line
FROM events
WHERE emitted_ns >= coalesce(getvariable('pair_walk_from_ns'), -9223372036854775808)
  AND emitted_ns < getvariable('pair_walk_to_ns')
