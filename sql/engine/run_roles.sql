-- run_roles: the role identity of SPEC section 2 for one run (one row).
-- Inputs: `events` (the store) and `event_roles` (pairing). Variable: cut_off_ns.
-- events: events before the cut-off; starts + stops + unmatched_stops must equal it.
-- with_role: rows of event_roles; distinct_events: distinct events before the cut-off that have a role.
SELECT
    (SELECT count(*) FROM events WHERE emitted_ns < getvariable('cut_off_ns')) AS events,
    (SELECT count(*) FROM event_roles WHERE role = 'start') AS starts,
    (SELECT count(*) FROM event_roles WHERE role = 'stop') AS stops,
    (SELECT count(*) FROM event_roles WHERE role = 'unmatched_stop') AS unmatched_stops,
    (SELECT count(*) FROM event_roles) AS with_role,
    (
        SELECT count(DISTINCT r.event_id)
        FROM event_roles AS r
        JOIN events AS e ON e.event_id = r.event_id
        WHERE e.emitted_ns < getvariable('cut_off_ns')
    ) AS distinct_events
