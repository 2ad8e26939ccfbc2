-- pair_anomalies: the `anomalies` relation, rows *about* events (never roles).
--   double_start   about the new start; interval_id the interval it cut short
--   orphan_stop    about a stop that is the first event of its resource; interval_id NULL
--   double_stop    about a stop whose previous event is a stop; interval_id NULL
--   shape_mismatch about a closing stop whose shape is non-empty and differs from the start's in the
--                  priced fields (cpu, mem_bytes for vm.compute; storage_bytes otherwise)
--   stale_open     about the start of an interval open longer than stale_after_ns at the cut-off
-- Each row of the walk yields at most one anomaly (a start row's next event is a start, a stop or
-- nothing; a stop row is an unmatched stop), so one pass over it finds them all. Anomalies about
-- the next event (double_start, shape_mismatch) come from the row of the start before it.
-- Input: relation `pair_as_of` (the walk as of the cut-off). Variables: pair_cut_off_ns, pair_double_start,
-- pair_stale_after_ns (NULL: off), pair_overlap_start_ns and pair_overlap_end_ns (a run's period; NULL: all). The rows of a checkpoint's open starts describe only what follows
-- them (their own anomalies lie before the checkpoint).
WITH flagged AS (
    SELECT
        pair_as_of.*,
        CASE
            WHEN endpoint = 'stop' AND prev_endpoint IS NULL THEN 'orphan_stop'
            WHEN endpoint = 'stop' THEN 'double_stop'
            WHEN next_endpoint = 'start' THEN 'double_start'
            WHEN
                next_endpoint = 'stop'
                AND (next_cpu <> 0 OR next_mem_bytes <> 0 OR next_storage_bytes <> 0)  -- stop shape not {}
                AND (
                    (family = 'vm.compute' AND (next_cpu <> cpu OR next_mem_bytes <> mem_bytes))
                    OR (family <> 'vm.compute' AND next_storage_bytes <> storage_bytes)
                )
                THEN 'shape_mismatch'
            WHEN
                next_endpoint IS NULL
                AND getvariable('pair_stale_after_ns') IS NOT NULL
                AND getvariable('pair_cut_off_ns') - emitted_ns > getvariable('pair_stale_after_ns')
                THEN 'stale_open'
        END AS code,
        -- true when the anomaly is about the next event (the start's row describes it)
        endpoint = 'start' AND next_endpoint IS NOT NULL AS about_next
    FROM pair_as_of
)

SELECT
    code,
    family,
    resource_id,
    CASE WHEN about_next THEN next_at ELSE emitted_at END AS at,
    CASE WHEN about_next THEN next_ns ELSE emitted_ns END AS at_ns,
    CASE WHEN about_next THEN next_source_file ELSE source_file END AS source_file,
    CASE WHEN about_next THEN next_source_line ELSE source_line END AS source_line,
    CASE WHEN about_next THEN next_event_id ELSE event_id END AS event_id,
    CASE WHEN endpoint = 'start' THEN event_id END AS interval_id,  -- NULL for unmatched stops
    CASE code
        WHEN 'orphan_stop' THEN 'stop with no earlier event for this resource'
        WHEN 'double_stop' THEN 'stop after a stop: no open interval to close'
        WHEN 'double_start'
            THEN 'start while interval ' || event_id || ' (started at ' || source_file || ':'
            || CAST(source_line AS VARCHAR) || ') was open; policy ' || getvariable('pair_double_start')
            || ': that interval is ' || status
        WHEN 'shape_mismatch'
            THEN CASE
                WHEN family = 'vm.compute'
                    THEN 'start cpu=' || CAST(cpu AS VARCHAR) || ' mem_bytes=' || CAST(mem_bytes AS VARCHAR)
                    || ', stop cpu=' || CAST(next_cpu AS VARCHAR) || ' mem_bytes='
                    || CAST(next_mem_bytes AS VARCHAR) || '; priced by the start'
                ELSE 'start storage_bytes=' || CAST(storage_bytes AS VARCHAR) || ', stop storage_bytes='
                    || CAST(next_storage_bytes AS VARCHAR) || '; priced by the start'
            END
        ELSE 'open for ' || CAST(getvariable('pair_cut_off_ns') - emitted_ns AS VARCHAR)
            || ' ns at the cut-off (stale_after ' || CAST(getvariable('pair_stale_after_ns') AS VARCHAR)
            || ' ns)'
    END AS detail
FROM flagged
WHERE code IS NOT NULL
  -- a run keeps the anomalies its period reports (NULL: every anomaly): those about its events, and
  -- stale_open, a statement about the cut-off
  AND (code = 'stale_open'
       OR getvariable('pair_overlap_start_ns') IS NULL
       OR (CASE WHEN about_next THEN next_ns ELSE emitted_ns END >= getvariable('pair_overlap_start_ns')
           AND CASE WHEN about_next THEN next_ns ELSE emitted_ns END < getvariable('pair_overlap_end_ns')))
