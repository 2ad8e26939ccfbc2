-- walk_identity: every event of the walk's window has exactly one role (one row: the window's events,
-- the roles, and the distinct events among them). Checked once per walk. A role is only ever given to
-- a window event (a row of the walk that is not a seed, or the next event of a start, which follows it
-- in the window), so as many distinct roles as events means one role each.
-- Inputs: `pair_window`, `walk_roles`.
SELECT
    (SELECT count(*) FROM pair_window) AS events,
    count(*) AS roles,
    count(DISTINCT event_id) AS distinct_events
FROM walk_roles
