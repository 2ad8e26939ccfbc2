-- walk_identity: every event of the walk's window has exactly one role (one row: the window's events,
-- the roles, and the distinct events among them that are window events). Checked once per walk.
-- Inputs: `pair_input`, `walk_roles`.
SELECT
    (SELECT count(*) FROM pair_input WHERE NOT seed) AS events,
    (SELECT count(*) FROM walk_roles) AS roles,
    (
        SELECT count(DISTINCT r.event_id)
        FROM walk_roles AS r
        JOIN pair_input AS e ON e.event_id = r.event_id
        WHERE NOT e.seed
    ) AS distinct_events
