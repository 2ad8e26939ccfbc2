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
-- Input: relation pair_input.
WITH files AS (
    -- each source file's rank in byte order: the walk sorts on this integer instead of the path
    -- (same order, much cheaper to sort on than a string)
    SELECT source_file, row_number() OVER (ORDER BY source_file) AS file_rank
    FROM (SELECT DISTINCT source_file FROM pair_input) AS distinct_files
),

ranked AS (
    SELECT pair_input.*, files.file_rank
    FROM pair_input LEFT JOIN files ON pair_input.source_file = files.source_file
),

walked AS (
    SELECT
        ranked.*,
        lag(endpoint) OVER w AS prev_endpoint,         -- NULL: first event of the resource
        lead(endpoint) OVER w AS next_endpoint,        -- NULL: last event of the walk
        lead(event_id) OVER w AS next_event_id,
        lead(emitted_ns) OVER w AS next_ns,
        lead(reason) OVER w AS next_reason,
        lead(source_file) OVER w AS next_source_file,
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
    event_id, family, endpoint, resource_id, vm_id, snapshot_id, source_snapshot_id, reason,
    hypervisor, cpu, mem_bytes, storage_bytes, emitted_ns, source_file, source_line, seed,
    prev_endpoint, next_endpoint, next_event_id, next_ns, next_reason, next_source_file,
    next_source_line, next_cpu, next_mem_bytes, next_storage_bytes
FROM walked
WHERE (endpoint = 'start' OR prev_endpoint IS NULL OR prev_endpoint = 'stop')
  AND NOT (seed AND endpoint = 'stop')
