-- audit_events: the ledger's events in the audit's window, per resource: what bounds a finding's unknown instants.
-- Inputs: relations intervals and anomalies (the pairing walk as of the audit's cut-off, for its
-- window), events (the walk's events, for the hypervisor of an unmatched stop).
-- `endpoint`: 'start' (every interval's start, billed or not), 'stop' (the stop closing an
-- interval; an inferred or dropped interval ends at the next start, already listed), or
-- 'unmatched_stop' (an orphan_stop or double_stop: a stop whose start the ledger lacks).
WITH unmatched AS (
    SELECT family, resource_id, at_ns, event_id
    FROM anomalies
    WHERE code IN ('orphan_stop', 'double_stop')
)
SELECT family, resource_id, start_ns AS at_ns, 'start' AS endpoint, hypervisor
FROM intervals
UNION ALL
SELECT family, resource_id, end_ns AS at_ns, 'stop' AS endpoint, hypervisor
FROM intervals
WHERE status = 'closed'
UNION ALL
SELECT u.family, u.resource_id, u.at_ns, 'unmatched_stop' AS endpoint, e.hypervisor
FROM unmatched AS u
LEFT JOIN (SELECT event_id, hypervisor FROM events SEMI JOIN unmatched USING (event_id)) AS e USING (event_id)
