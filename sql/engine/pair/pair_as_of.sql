-- pair_as_of: the walk (pair_steps) as it stood at a cut-off: the rows of events before it, and of
-- their next event only what lies before it too. An interval whose next event is at or after the
-- cut-off is open as of it. The walk is causal, so this is exactly the walk of the events before
-- the cut-off, whatever later events the walk read.
-- `status` is the status of the interval a start opens (NULL on unmatched stops).
-- Input: relation as_of_steps (pair_steps, or its rows of the resources a run recomputes). Variables: pair_cut_off_ns (BIGINT, at most the walk's end),
-- pair_double_start ('close' / 'drop').
WITH cut AS (
    SELECT
        * REPLACE (
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_endpoint END AS next_endpoint,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_event_id END AS next_event_id,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_reason END AS next_reason,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_source_file END AS next_source_file,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_source_line END AS next_source_line,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_cpu END AS next_cpu,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_mem_bytes END AS next_mem_bytes,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_storage_bytes END AS next_storage_bytes,
            CASE WHEN next_ns < getvariable('pair_cut_off_ns') THEN next_ns END AS next_ns
        )
    FROM as_of_steps
    WHERE emitted_ns < getvariable('pair_cut_off_ns')
)

SELECT
    *,
    timezone('UTC', make_timestamp_ns(emitted_ns)) AS emitted_at,  -- TIMESTAMPTZ_NS (UTC)
    timezone('UTC', make_timestamp_ns(next_ns)) AS next_at,
    CASE
        WHEN endpoint = 'stop' THEN NULL
        WHEN next_endpoint IS NULL THEN 'open'
        WHEN next_endpoint = 'stop' THEN 'closed'
        WHEN getvariable('pair_double_start') = 'drop' THEN 'dropped'
        ELSE 'inferred'
    END AS status
FROM cut
