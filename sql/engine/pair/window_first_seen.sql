-- window_first_seen: the window's resources the starting state has not seen (neither its base nor its
-- delta), each with the instant of its first event in the window. Made once per walk (and cut at a
-- rebase), so the seen delta at each midnight the walk writes a checkpoint at (state_seen_delta.sql)
-- is a filter of it, not a scan of the window's events.
-- Inputs: relations pair_window (the walk's window's events), state_seen.
WITH firsts AS (
    SELECT family, resource_id, min(emitted_ns) AS first_ns
    FROM pair_window
    GROUP BY family, resource_id
)

SELECT f.family, f.resource_id, f.first_ns
FROM firsts AS f
ANTI JOIN state_seen AS b ON b.family = f.family AND b.resource_id = f.resource_id
