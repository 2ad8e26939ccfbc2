-- pair_event_roles: one role per event of the walk's window before the cut-off, with the event's
-- instant: `start` (opens an interval), `stop` (closes one), `unmatched_stop` (orphan or double
-- stop). Closing stops are not rows of the walk: they are the next_event_id of the start they close
-- (a checkpoint's open start too). The roles of the events before the window are the checkpoint's
-- counts. An event's role follows from the events before it, so the walk reads this once, at its end
-- (`walk_roles`), and counts the roles before any earlier cut-off from it.
-- Input: relation `pair_as_of`.
SELECT
    event_id,
    CASE WHEN endpoint = 'start' THEN 'start' ELSE 'unmatched_stop' END AS role,
    emitted_ns AS at_ns
FROM pair_as_of
WHERE NOT seed

UNION ALL

SELECT
    next_event_id AS event_id,
    'stop' AS role,
    next_ns AS at_ns
FROM pair_as_of
WHERE endpoint = 'start' AND next_endpoint = 'stop'
