-- new_events: the events this ingest adds to the store, in the store's `events` columns.
-- Input relations: ingest_lines (parsed_lines rows of every file read, pending lines removed),
-- store_event_ids (event_id of every event already committed on these days), repeated_events (ids
-- read more than once, with their first occurrence and instant). Variables: ingest_id, day_lo and
-- day_hi (the instants [day_lo, day_hi) written: one UTC day, or all of them).
-- An event already in the store is a duplicate; within this ingest the first occurrence in the
-- order (file_index, source_line) is kept (file_index ranks the sorted paths).
-- The instant filter reaches the scratch Parquet scan: a day's query reads only the row groups
-- whose instants overlap that day.
SELECT
    c.event_id,
    c.family,
    c.endpoint,
    c.resource_id,
    c.kind,
    c.vm_id,
    c.snapshot_id,
    c.source_snapshot_id,
    c.reason,
    c.hypervisor,
    c.cpu,
    c.mem_bytes,
    c.storage_bytes,
    timezone('UTC', make_timestamp_ns(c.emitted_ns)) AS emitted_at,  -- TIMESTAMPTZ_NS (UTC)
    c.emitted_ns,
    c.source_file,
    c.source_line,
    getvariable('ingest_id') AS ingest_id
FROM ingest_lines AS c
LEFT JOIN (
    SELECT event_id, first_ord FROM repeated_events
    WHERE emitted_ns >= getvariable('day_lo') AND emitted_ns < getvariable('day_hi')
) AS r ON r.event_id = c.event_id
LEFT JOIN store_event_ids AS s ON s.event_id = c.event_id  -- unique in the store
WHERE
    c.code IS NULL
    AND c.emitted_ns >= getvariable('day_lo') AND c.emitted_ns < getvariable('day_hi')
    AND s.event_id IS NULL
    AND (r.event_id IS NULL OR r.first_ord = c.file_index * 1000000000000 + c.source_line)
