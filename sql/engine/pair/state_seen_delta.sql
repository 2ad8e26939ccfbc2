-- state_seen_delta: the resources with an event before an instant M that are not in the seen base
-- the walk started from: the delta it started with, and the window's resources first seen before M
-- that the base does not hold. A stop of a resource seen before is a double_stop; of one never seen,
-- an orphan_stop. A checkpoint keeps its delta and names its base (the last first-of-a-month
-- checkpoint), so it holds about a month of new resources, not every resource ever seen.
-- Inputs: relations state_seen_delta (the walk's starting delta), window_first_seen
-- (window_first_seen.sql). Variable: pair_state_at_ns.
SELECT family, resource_id FROM state_seen_delta
UNION
SELECT family, resource_id FROM window_first_seen
WHERE first_ns < getvariable('pair_state_at_ns')
