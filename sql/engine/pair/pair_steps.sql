-- pair_steps: the pairing walk (SPEC section 3). The rows of pair_input, ordered within (family,
-- resource_id) by emitted_ns, stop before start, source_file, source_line, event_id, each with the
-- endpoint of the row before it and the fields of the row after it. Since the state after an event
-- is `open` exactly when the event is a start, an event's role follows from the previous endpoint:
--   start                      -> opens an interval (a double start when prev_endpoint = 'start')
--   stop after a start         -> closes that interval (kept only through the start's next_* columns)
--   stop first or after a stop -> unmatched stop (orphan_stop / double_stop)
-- Only starts and unmatched stops are kept: a closing stop is fully described by its start's row.
-- The seed rows of a checkpoint (pair_input) take part in the order: an open start keeps its row
-- (its interval is still to be ended), a closed resource's stop only sets prev_endpoint of the
-- window's first event and is not kept. No status here: the views as of a cut-off (pair_as_of)
-- decide it, so one walk serves several cut-offs (the nightly's days).
-- Inputs: relations pair_input, pair_window (its window's events) and state_open (its open seeds).
WITH files AS (
    -- each source file's rank in byte order: the walk sorts and carries this integer instead of the
    -- path (same order, much cheaper to sort on and to carry than a string; the paths are joined
    -- back to the rows kept)
    -- (from the window and the open starts, the rows with a file: not from pair_input, a view whose
    -- seeds would be computed again)
    SELECT source_file, row_number() OVER (ORDER BY source_file) AS file_rank
    FROM (
        SELECT source_file FROM pair_window
        UNION
        SELECT source_file FROM state_open
    ) AS distinct_files
),

ranked AS (
    SELECT p.* EXCLUDE (source_file), files.file_rank
    FROM pair_input AS p LEFT JOIN files ON p.source_file = files.source_file
),

walked AS (
    SELECT
        ranked.*,
        lag(endpoint) OVER w AS prev_endpoint,         -- NULL: first event of the resource
        lead(endpoint) OVER w AS next_endpoint,        -- NULL: last event of the walk
        lead(event_id) OVER w AS next_event_id,
        lead(emitted_ns) OVER w AS next_ns,
        lead(reason) OVER w AS next_reason,
        lead(file_rank) OVER w AS next_file_rank,
        lead(source_line) OVER w AS next_source_line,
        lead(cpu) OVER w AS next_cpu,
        lead(mem_bytes) OVER w AS next_mem_bytes,
        lead(storage_bytes) OVER w AS next_storage_bytes
    FROM ranked
    WINDOW w AS (
        PARTITION BY family, resource_id
        ORDER BY
            emitted_ns,
            CASE WHEN endpoint = 'stop' THEN 0 ELSE 1 END,  -- stop before start at one instant
            file_rank, source_line, event_id
    )
)

SELECT
    w.event_id, w.family, w.endpoint, w.resource_id, w.vm_id, w.snapshot_id, w.source_snapshot_id,
    w.reason, w.hypervisor, w.cpu, w.mem_bytes, w.storage_bytes, w.emitted_ns, f.source_file,
    w.source_line, w.seed, w.prev_endpoint, w.next_endpoint, w.next_event_id, w.next_ns, w.next_reason,
    n.source_file AS next_source_file, w.next_source_line, w.next_cpu, w.next_mem_bytes,
    w.next_storage_bytes
FROM walked AS w
LEFT JOIN files AS f ON f.file_rank = w.file_rank
LEFT JOIN files AS n ON n.file_rank = w.next_file_rank
WHERE (w.endpoint = 'start' OR w.prev_endpoint IS NULL OR w.prev_endpoint = 'stop')
  AND NOT (w.seed AND w.endpoint = 'stop')
