-- pair_steps: the pairing walk. Events before the cut-off, ordered within (family, resource_id) by
-- emitted_ns, stop before start, source_file, source_line, event_id, each with the endpoint of the
-- event before it and the event after it. Since the state after an event is `open` exactly when the
-- event is a start, an event's role follows from the previous endpoint alone:
--   start                      -> opens an interval (a double start when prev_endpoint = 'start')
--   stop after a start         -> closes that interval (kept only through the start's next_* columns)
--   stop first or after a stop -> unmatched stop (orphan_stop / double_stop)
-- Only starts and unmatched stops are kept: a closing stop is fully described by its start's row.
-- Input: relation `events`. Variables: cut_off_ns (BIGINT).
WITH live AS (
    SELECT
        event_id, family, endpoint, resource_id, vm_id, snapshot_id, source_snapshot_id, reason,
        hypervisor, cpu, mem_bytes, storage_bytes, emitted_at, emitted_ns, source_file, source_line
    FROM events
    WHERE emitted_ns < getvariable('cut_off_ns')
),

walked AS (
    SELECT
        live.*,
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
    FROM live
    WINDOW w AS (
        PARTITION BY family, resource_id
        ORDER BY
            emitted_ns,
            CASE WHEN endpoint = 'stop' THEN 0 ELSE 1 END,  -- stop before start at one instant
            source_file, source_line, event_id
    )
)

SELECT *
FROM walked
WHERE endpoint = 'start' OR prev_endpoint IS NULL OR prev_endpoint = 'stop'
