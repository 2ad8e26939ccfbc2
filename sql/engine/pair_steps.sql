-- pair_steps: the pairing walk. Events before the cut-off, ordered within (family, resource_id) by
-- emitted_ns, stop before start, source_file, source_line, event_id, each with the endpoint of the
-- event before it and the event after it. Since the state after an event is `open` exactly when the
-- event is a start, an event's role follows from the previous endpoint alone:
--   start                      -> opens an interval (a double start when prev_endpoint = 'start')
--   stop after a start         -> closes that interval (kept only through the start's next_* columns)
--   stop first or after a stop -> unmatched stop (orphan_stop / double_stop)
-- Only starts and unmatched stops are kept: a closing stop is fully described by its start's row.
-- `status` is the status of the interval a start opens (NULL on unmatched stops).
-- Input: relation `events`. Variables: cut_off_ns (BIGINT), double_start ('close' / 'drop').
WITH live AS (
    SELECT
        event_id, family, endpoint, resource_id, vm_id, snapshot_id, source_snapshot_id, reason,
        hypervisor, cpu, mem_bytes, storage_bytes, emitted_at, emitted_ns, source_file, source_line
    FROM events
    WHERE emitted_ns < getvariable('cut_off_ns')
),

files AS (
    -- each source file's rank in byte order: the walk sorts on this integer instead of the path
    -- (same order, much cheaper to sort on than a string). Read from `events`, not `live`: a CTE
    -- used twice may be materialised whole, and ranks of files holding only later events are harmless.
    SELECT source_file, row_number() OVER (ORDER BY source_file) AS file_rank
    FROM (SELECT DISTINCT source_file FROM events) AS distinct_files
),

ranked AS (
    SELECT live.*, files.file_rank
    FROM live LEFT JOIN files ON live.source_file = files.source_file
),

walked AS (
    SELECT
        ranked.*,
        lag(endpoint) OVER w AS prev_endpoint,         -- NULL: first event of the resource
        lead(endpoint) OVER w AS next_endpoint,        -- NULL: last event before the cut-off
        lead(event_id) OVER w AS next_event_id,
        lead(emitted_at) OVER w AS next_at,
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
    hypervisor, cpu, mem_bytes, storage_bytes, emitted_at, emitted_ns, source_file, source_line,
    prev_endpoint, next_endpoint, next_event_id, next_at, next_ns, next_reason, next_source_file,
    next_source_line, next_cpu, next_mem_bytes, next_storage_bytes,
    CASE
        WHEN endpoint = 'stop' THEN NULL
        WHEN next_endpoint IS NULL THEN 'open'
        WHEN next_endpoint = 'stop' THEN 'closed'
        WHEN getvariable('double_start') = 'drop' THEN 'dropped'
        ELSE 'inferred'
    END AS status
FROM walked
WHERE endpoint = 'start' OR prev_endpoint IS NULL OR prev_endpoint = 'stop'
