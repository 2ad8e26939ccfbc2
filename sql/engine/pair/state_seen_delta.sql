-- state_seen_delta: the resources with an event before an instant M that are not in the seen base
-- the walk started from: the delta it started with, and the window's resources before M the base
-- does not hold. A stop of a resource seen before is a double_stop; of one never seen, an
-- orphan_stop. A checkpoint keeps its delta and names its base (the last first-of-a-month
-- checkpoint), so it holds about a month of new resources, not every resource ever seen.
-- Inputs: relations state_seen_base, state_seen_delta (the walk's starting state), pair_input.
-- Variable: pair_state_at_ns.
WITH window_seen AS (
    SELECT DISTINCT family, resource_id
    FROM pair_input
    WHERE NOT seed AND emitted_ns < getvariable('pair_state_at_ns')
)

SELECT family, resource_id FROM state_seen_delta
UNION
SELECT w.family, w.resource_id
FROM window_seen AS w
ANTI JOIN state_seen_base AS b ON b.family = w.family AND b.resource_id = w.resource_id
ORDER BY family, resource_id
