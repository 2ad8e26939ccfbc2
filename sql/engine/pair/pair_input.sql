-- pair_input: what the pairing walk reads: the events in [walk_from_ns, walk_to_ns), and for each
-- resource it meets, its state before walk_from_ns (a checkpoint of the walk, SPEC section 3 is
-- causal: the state after an event depends only on the events before it).
--   seed false: an event of the window
--   seed true, endpoint 'start': the start event of an interval open at walk_from_ns (every field)
--   seed true, endpoint 'stop': a resource with an event before walk_from_ns and no open interval
--                               there (its last event was a stop); only resources the window
--                               meets, placed before everything (emitted_ns = min BIGINT)
-- A resource with no seed row had no event before walk_from_ns (a stop first is an orphan_stop).
-- Inputs: relations pair_window (the window's events), state_open (start events: the events columns
-- the walk carries), state_seen (family, resource_id: the union of state_seen_base and
-- state_seen_delta). A view: the window pass (pair_steps) reads it once.
WITH window_events AS (
    SELECT *, false AS seed FROM pair_window
),

touched AS (
    SELECT DISTINCT family, resource_id FROM window_events
),

closed_seeds AS (
    SELECT s.family, s.resource_id
    FROM state_seen AS s
    SEMI JOIN touched AS t ON t.family = s.family AND t.resource_id = s.resource_id
    ANTI JOIN state_open AS o ON o.family = s.family AND o.resource_id = s.resource_id
)

SELECT * FROM window_events
UNION ALL
SELECT
    event_id, family, 'start' AS endpoint, resource_id, vm_id, snapshot_id, source_snapshot_id, reason,
    hypervisor, cpu, mem_bytes, storage_bytes, emitted_ns, source_file, source_line,
    true AS seed
FROM state_open
UNION ALL
SELECT
    NULL AS event_id, family, 'stop' AS endpoint, resource_id, NULL AS vm_id, NULL AS snapshot_id,
    NULL AS source_snapshot_id, NULL AS reason, NULL AS hypervisor, 0 AS cpu, 0 AS mem_bytes,
    0 AS storage_bytes, CAST(-9223372036854775808 AS BIGINT) AS emitted_ns, NULL AS source_file,
    NULL AS source_line, true AS seed
FROM closed_seeds
