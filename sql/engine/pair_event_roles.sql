-- pair_event_roles: the `event_roles` relation, exactly one role per event before the cut-off:
-- `start` (opens an interval), `stop` (closes one), `unmatched_stop` (orphan or double stop).
-- Closing stops are not rows of pair_steps: they are the next_event_id of the start they close.
-- Input: relation `pair_steps`.
SELECT
    event_id,
    CASE WHEN endpoint = 'start' THEN 'start' ELSE 'unmatched_stop' END AS role
FROM pair_steps

UNION ALL

SELECT
    next_event_id AS event_id,
    'stop' AS role
FROM pair_steps
WHERE endpoint = 'start' AND next_endpoint = 'stop'
