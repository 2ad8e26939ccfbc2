-- pair_intervals: the `intervals` relation as of the cut-off, one row per start the walk holds (the
-- starts of the window, and those of intervals open at its checkpoint).
-- The next event of the resource ends the interval: a stop closes it (`closed`), a start cuts it
-- short (`inferred` under double_start policy 'close', `dropped` under 'drop'), none leaves it `open`.
-- A projection of the walk as of the cut-off. Input: relation `pair_as_of`. Variables:
-- pair_overlap_start_ns, pair_overlap_end_ns (a run's period: only the intervals it bills or lists; NULL: all).
SELECT
    event_id AS interval_id,              -- the start's event_id: stable across re-runs and ingests
    family,
    resource_id,
    vm_id,
    snapshot_id,
    source_snapshot_id,
    hypervisor,
    cpu,                                  -- the start's shape: what is priced
    mem_bytes,
    storage_bytes,
    emitted_at AS start_at,
    next_at AS end_at,                    -- NULL while open; the next start's instant if cut short
    emitted_ns AS start_ns,
    next_ns AS end_ns,
    reason AS start_reason,
    CASE WHEN next_endpoint = 'stop' THEN next_reason END AS end_reason,
    status,                               -- closed / inferred / dropped / open, set by pair_as_of
    source_file || ':' || CAST(source_line AS VARCHAR) AS start_source,
    next_source_file || ':' || CAST(next_source_line AS VARCHAR) AS end_source,  -- stop or next start
    event_id AS start_event_id,
    next_event_id AS end_event_id,        -- the closing stop, or the start that cut it short
    CASE WHEN next_endpoint = 'stop' THEN next_cpu END AS end_cpu,  -- closing stop's shape
    CASE WHEN next_endpoint = 'stop' THEN next_mem_bytes END AS end_mem_bytes,
    CASE WHEN next_endpoint = 'stop' THEN next_storage_bytes END AS end_storage_bytes
FROM pair_as_of
WHERE endpoint = 'start'
  -- a run keeps the intervals overlapping its period (NULL: every interval)
  AND emitted_ns < coalesce(getvariable('pair_overlap_end_ns'), 9223372036854775807)
  AND (next_ns IS NULL OR next_ns >= coalesce(getvariable('pair_overlap_start_ns'), -9223372036854775808))
