-- pair_anomalies: the `anomalies` relation, rows *about* events (never roles).
--   double_start   about the new start; interval_id the interval it cut short
--   orphan_stop    about a stop that is the first event of its resource; interval_id NULL
--   double_stop    about a stop whose previous event is a stop; interval_id NULL
--   shape_mismatch about a closing stop whose shape is non-empty and differs from the start's in the
--                  priced fields (cpu, mem_bytes for vm.compute; storage_bytes otherwise)
--   stale_open     about the start of an interval open longer than stale_after_ns at the cut-off
-- Input: relation `pair_steps`. Variables: cut_off_ns, double_start, stale_after_ns (NULL: off).
SELECT
    'double_start' AS code,
    family,
    resource_id,
    next_at AS at,
    next_ns AS at_ns,
    next_source_file AS source_file,
    next_source_line AS source_line,
    next_event_id AS event_id,
    event_id AS interval_id,
    'start while interval ' || event_id || ' (started at ' || source_file || ':'
    || CAST(source_line AS VARCHAR) || ') was open; policy ' || getvariable('double_start')
    || ': that interval is ' || CASE WHEN getvariable('double_start') = 'drop' THEN 'dropped' ELSE
        'inferred' END AS detail
FROM pair_steps
WHERE endpoint = 'start' AND next_endpoint = 'start'

UNION ALL

SELECT
    CASE WHEN prev_endpoint IS NULL THEN 'orphan_stop' ELSE 'double_stop' END AS code,
    family,
    resource_id,
    emitted_at AS at,
    emitted_ns AS at_ns,
    source_file,
    source_line,
    event_id,
    CAST(NULL AS VARCHAR) AS interval_id,
    CASE
        WHEN prev_endpoint IS NULL THEN 'stop with no earlier event for this resource'
        ELSE 'stop after a stop: no open interval to close'
    END AS detail
FROM pair_steps
WHERE endpoint = 'stop'

UNION ALL

SELECT
    'shape_mismatch' AS code,
    family,
    resource_id,
    next_at AS at,
    next_ns AS at_ns,
    next_source_file AS source_file,
    next_source_line AS source_line,
    next_event_id AS event_id,
    event_id AS interval_id,
    CASE
        WHEN family = 'vm.compute'
            THEN 'start cpu=' || CAST(cpu AS VARCHAR) || ' mem_bytes=' || CAST(mem_bytes AS VARCHAR)
            || ', stop cpu=' || CAST(next_cpu AS VARCHAR) || ' mem_bytes='
            || CAST(next_mem_bytes AS VARCHAR) || '; priced by the start'
        ELSE 'start storage_bytes=' || CAST(storage_bytes AS VARCHAR) || ', stop storage_bytes='
            || CAST(next_storage_bytes AS VARCHAR) || '; priced by the start'
    END AS detail
FROM pair_steps
WHERE
    endpoint = 'start'
    AND next_endpoint = 'stop'
    AND (next_cpu <> 0 OR next_mem_bytes <> 0 OR next_storage_bytes <> 0)  -- stop shape not {}
    AND (
        (family = 'vm.compute' AND (next_cpu <> cpu OR next_mem_bytes <> mem_bytes))
        OR (family <> 'vm.compute' AND next_storage_bytes <> storage_bytes)
    )

UNION ALL

SELECT
    'stale_open' AS code,
    family,
    resource_id,
    emitted_at AS at,
    emitted_ns AS at_ns,
    source_file,
    source_line,
    event_id,
    event_id AS interval_id,
    'open for ' || CAST(getvariable('cut_off_ns') - emitted_ns AS VARCHAR)
    || ' ns at the cut-off (stale_after ' || CAST(getvariable('stale_after_ns') AS VARCHAR)
    || ' ns)' AS detail
FROM pair_steps
WHERE
    endpoint = 'start'
    AND next_endpoint IS NULL
    AND getvariable('stale_after_ns') IS NOT NULL
    AND getvariable('cut_off_ns') - emitted_ns > getvariable('stale_after_ns')
