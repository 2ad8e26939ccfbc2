-- slice_contracts: the contract each slice is charged under: the contract of the slice's tenant in
-- effect at its instant at_ns (its start; the interval's last instant for the zero-length slice that
-- carries the extra of an interval ending on a midnight), one row per slice that has one. A tenant's
-- contracts never overlap and slices are cut where one starts or ends (contract_bounds), so a slice
-- has at most one; an unattributed slice has none.
-- Inputs: `slice_spans`, `contracts`.
SELECT s.price_period, s.interval_id, s.slice_start_ns, s.slice_end_ns, c.contract_id
FROM slice_spans AS s
JOIN contracts AS c
  ON c.tenant_id = s.tenant_id
 AND c.effective_from_ns <= s.at_ns
 AND (c.effective_to_ns IS NULL OR s.at_ns < c.effective_to_ns)
