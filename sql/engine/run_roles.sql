-- run_roles: the role identity of SPEC section 2 over the walk's window, for one cut-off (one row).
-- The events before the window are counted by the checkpoint the walk started from (its counts are
-- added to these); every event of the window before the cut-off must have exactly one role.
-- Inputs: `pair_input` (the walk's input: its window's events are the rows not seeded) and
-- `event_roles` (pairing, as of the cut-off). Variable: cut_off_ns.
-- events: window events before the cut-off; starts + stops + unmatched_stops must equal it.
-- with_role: rows of event_roles; distinct_events: distinct window events before the cut-off that
-- have a role.
SELECT
    (SELECT count(*) FROM pair_input WHERE NOT seed AND emitted_ns < getvariable('cut_off_ns')) AS events,
    (SELECT count(*) FROM event_roles WHERE role = 'start') AS starts,
    (SELECT count(*) FROM event_roles WHERE role = 'stop') AS stops,
    (SELECT count(*) FROM event_roles WHERE role = 'unmatched_stop') AS unmatched_stops,
    (SELECT count(*) FROM event_roles) AS with_role,
    (
        SELECT count(DISTINCT r.event_id)
        FROM event_roles AS r
        JOIN pair_input AS e ON e.event_id = r.event_id
        WHERE NOT e.seed AND e.emitted_ns < getvariable('cut_off_ns')
    ) AS distinct_events
