-- state_seen: every resource with an event before an instant M, in full (a checkpoint that is a base
-- of others: the first of a month): the base the walk started from, and the new delta.
-- Inputs: relations state_seen_base (the walk's starting base), next_seen_delta (state_seen_delta.sql
-- at M: disjoint from the base).
SELECT family, resource_id FROM state_seen_base
UNION ALL
SELECT family, resource_id FROM next_seen_delta
