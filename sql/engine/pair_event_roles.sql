-- pair_event_roles: the `event_roles` relation, exactly one role per event of the walk's window
-- before the cut-off: `start` (opens an interval), `stop` (closes one), `unmatched_stop` (orphan or
-- double stop). Closing stops are not rows of the walk: they are the next_event_id of the start they
-- close (a checkpoint's open start too). The roles of the events before the window are the
-- checkpoint's counts.
-- Input: relation `pair_as_of`.
SELECT
    event_id,
    CASE WHEN endpoint = 'start' THEN 'start' ELSE 'unmatched_stop' END AS role
FROM pair_as_of
WHERE NOT seed

UNION ALL

SELECT
    next_event_id AS event_id,
    'stop' AS role
FROM pair_as_of
WHERE endpoint = 'start' AND next_endpoint = 'stop'
