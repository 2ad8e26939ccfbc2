-- run_roles: the role identity of SPEC section 2 over the walk's window, for one cut-off (one row).
-- The events before the window are counted by the checkpoint the walk started from (its counts are
-- added to these).
-- Inputs: `pair_window` (the walk's window's events) and
-- `walk_roles` (the roles of the window's events, with their instants). Variable: pair_cut_off_ns.
-- events: window events before the cut-off; starts + stops + unmatched_stops must equal it.
SELECT
    (SELECT count(*) FROM pair_window WHERE emitted_ns < getvariable('pair_cut_off_ns')) AS events,
    count(*) FILTER (WHERE role = 'start') AS starts,
    count(*) FILTER (WHERE role = 'stop') AS stops,
    count(*) FILTER (WHERE role = 'unmatched_stop') AS unmatched_stops
FROM walk_roles
WHERE at_ns < getvariable('pair_cut_off_ns')
