-- audit_findings: each finding with the money at risk: two exact amounts of the book's currency bounding what recording what happened would change in the window's bill.
-- Inputs: relations audit_runs, audit_pieces, slices (audit_pieces priced by the pricing stage
-- over the window: its interval_id is finding_id/tag/piece), tenants (the pricing stage's tenants
-- table). Variables: audit_window_start_ns, audit_cut_off_ns, audit_currency.
-- Delta = the resource's bill in the window as it happened - its bill now (delta_low <= Delta <=
-- delta_high, docs/SPEC.md "Inventory audit"). direction 'unbilled' (Delta >= 0: the customer was
-- not billed for it) or 'overbilled' (Delta <= 0); at_risk_min <= |Delta| <= at_risk_max: the
-- least is what the snapshots prove, the most what they allow. When the range holds both signs
-- (a change placed within one billing increment), the direction is the finding's own and
-- at_risk_min is 0.
WITH amounts AS (
    SELECT interval_id, sum(amount) AS amount
    FROM slices
    GROUP BY interval_id
),

scenarios AS (
    SELECT
        p.finding_id, p.tag,
        any_value(p.in_low) AS in_low, any_value(p.in_high) AS in_high,
        any_value(p.eps_low) AS eps_low, any_value(p.eps_high) AS eps_high,
        CAST(sum(coalesce(a.amount, 0)) AS DECIMAL(38, 12)) AS amount
    FROM audit_pieces AS p
    LEFT JOIN amounts AS a ON a.interval_id = p.finding_id || '/' || p.tag || '/' || p.piece
    GROUP BY p.finding_id, p.tag
),

money AS (
    SELECT
        finding_id,
        coalesce(sum(amount) FILTER (WHERE tag = 'C'), 0) AS current_amount,
        min(amount) FILTER (WHERE in_low) AS low,
        max(amount) FILTER (WHERE in_high) AS high,
        coalesce(max(amount) FILTER (WHERE tag = 'P'), 0) AS probe,
        any_value(eps_low) AS eps_low,
        any_value(eps_high) AS eps_high
    FROM scenarios
    GROUP BY finding_id
),

deltas AS (
    SELECT
        finding_id,
        current_amount,
        CAST(low - current_amount - eps_low * probe AS DECIMAL(38, 12)) AS delta_low,
        CAST(high - current_amount + eps_high * probe AS DECIMAL(38, 12)) AS delta_high
    FROM money
),

judged AS (
    SELECT
        r.*,
        d.current_amount, d.delta_low, d.delta_high,
        CASE
            WHEN d.delta_low >= 0 THEN 'unbilled'
            WHEN d.delta_high <= 0 THEN 'overbilled'
            WHEN r.code = 'missing_start' THEN 'unbilled'
            WHEN r.code = 'missing_stop' THEN 'overbilled'
            WHEN d.delta_low + d.delta_high >= 0 THEN 'unbilled'
            ELSE 'overbilled'
        END AS direction
    FROM audit_runs AS r
    JOIN deltas AS d USING (finding_id)
)

SELECT
    j.finding_id,
    j.code,
    j.family,
    j.resource_id,
    coalesce(
        (SELECT any_value(t.tenant_id) FROM tenants AS t
         WHERE t.resource_id = j.resource_id AND coalesce(t.valid_from_ns, j.first_ns) <= j.first_ns
           AND coalesce(t.valid_to_ns, j.first_ns + 1) > j.first_ns),
        j.seen.tenant_id
    ) AS tenant_id,
    coalesce(j.i_hypervisor, j.seen.hypervisor, j.next_hypervisor, j.prev_hypervisor) AS hypervisor,
    j.interval_id,
    j.direction,
    CAST(CASE
        WHEN j.delta_low >= 0 THEN j.delta_low
        WHEN j.delta_high <= 0 THEN -j.delta_high
        ELSE 0
    END AS DECIMAL(38, 12)) AS at_risk_min,
    CAST(CASE
        WHEN j.delta_low >= 0 THEN j.delta_high
        WHEN j.delta_high <= 0 THEN -j.delta_low
        ELSE greatest(-j.delta_low, j.delta_high)
    END AS DECIMAL(38, 12)) AS at_risk_max,
    getvariable('audit_currency') AS currency,
    j.delta_low,
    j.delta_high,
    j.current_amount AS billed_now,
    j.first_ns, j.last_ns, j.snapshots, j.before_ns, j.after_ns, j.after_kind,
    j.prev_event_ns, j.next_event_ns, j.lo_ns, j.hi_ns, j.known_end, j.open_possible, j.continues,
    j.seen.cpu AS seen_cpu, j.seen.mem_bytes AS seen_mem_bytes, j.seen.storage_bytes AS seen_storage_bytes,
    j.seen.file_no AS seen_file_no, j.seen.line AS seen_line,
    j.i_start_ns, j.i_end_ns, j.i_status, j.i_cpu, j.i_mem_bytes, j.i_storage_bytes
FROM judged AS j
ORDER BY j.family, j.resource_id, j.first_ns
