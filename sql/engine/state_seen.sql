-- state_seen: every resource with an event before an instant M (a checkpoint's seen set): those of
-- the state the walk started from, and those of its window's events before M. A stop of a resource
-- seen before is a double_stop; of one never seen, an orphan_stop.
-- Inputs: relations state_seen (the walk's starting state), pair_input. Variable: state_at_ns.
SELECT family, resource_id FROM state_seen
UNION
SELECT family, resource_id FROM pair_input WHERE NOT seed AND emitted_ns < getvariable('state_at_ns')
ORDER BY family, resource_id
