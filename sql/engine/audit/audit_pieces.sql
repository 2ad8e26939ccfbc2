-- audit_pieces: for each finding, the intervals of the bills it compares: the ledger's own (tag C) and those of what the evidence allows, at its extremes.
-- Inputs: relations audit_runs (with the ranges lo_ns, hi_ns, known_end, open_possible, clamped,
-- continues), audit_rules (family, probe_ns: the larger of the family's billing increment and
-- minimum, 0 without either). Variables: audit_window_start_ns, audit_cut_off_ns.
-- A finding's money is Delta = (the resource's bill in the window had the ledger recorded what
-- happened) - (its bill now), bounded by pricing scenarios (docs/SPEC.md, "Inventory audit"):
-- every piece of a scenario is an interval priced by the engine like any other. Scenarios in_low
-- give the least Delta (the minimum over them), those in_high the most; P is the probe (an
-- interval of probe_ns at the finding's larger shape): the price of one billing increment or
-- minimum, by which a placement between two extremes can exceed them (eps_low, eps_high: how
-- many probes widen each bound).
-- missing_start (no interval billed; listed from a to b): it started in (lo, a] and stopped at
--   the ledger's next unmatched stop when that is the next evidence (known end), else in (b, hi]
--   or, with no evidence after b, maybe not by the cut-off (open). lo: the last evidence of it
--   not running (an agreeing snapshot, a ledger event) or the window's start.
-- missing_stop (interval I = [t0, e) billed, not listed from c to d): it stopped in (lo, c]
--   (lo: the last instant seen running in I, else t0); when it was seen running again in I at r
--   (a resume: its restart lost too), it restarted in (d, r].
-- shape_drift (I billed at shape SL, listed from a to b at S'): its shape changed in (lo, a] and
--   stayed S' to I's end, or, when the next evidence r inside I shows it otherwise, changed
--   again in (b, r]. Scenarios: the corners of those ranges.
WITH f AS (
    SELECT
        r.*,
        coalesce(q.probe_ns, 0) AS probe_ns,
        getvariable('audit_cut_off_ns') AS cut_ns,
        r.lo_ns AS ms_lo,
        r.hi_ns AS ms_hi,
        r.lo_ns AS iv_lo,
        coalesce(r.seen.hypervisor, r.next_hypervisor, r.prev_hypervisor) AS ms_hypervisor
    FROM audit_runs AS r
    LEFT JOIN audit_rules AS q USING (family)
),

-- (finding_id, tag, in_low, in_high, piece, start_ns, end_ns, status, cpu, mem_bytes, storage_bytes, hypervisor)
pieces AS (
    -- missing_start: the least and the most the evidence allows; nothing billed now
    SELECT finding_id, 'L1' AS tag, true AS in_low, false AS in_high, 1 AS piece, first_ns AS start_ns,
        CASE WHEN known_end THEN next_event_ns ELSE last_ns END AS end_ns, 'closed' AS status,
        seen.cpu AS cpu, seen.mem_bytes AS mem_bytes, seen.storage_bytes AS storage_bytes,
        ms_hypervisor AS hypervisor
    FROM f WHERE code = 'missing_start'
    UNION ALL
    SELECT finding_id, 'L2', true, false, 1, first_ns, NULL, 'open', seen.cpu, seen.mem_bytes, seen.storage_bytes,
        ms_hypervisor
    FROM f WHERE code = 'missing_start' AND open_possible
    UNION ALL
    SELECT finding_id, 'H1', false, true, 1, ms_lo,
        CASE WHEN known_end THEN next_event_ns WHEN open_possible THEN cut_ns - 1 ELSE ms_hi END, 'closed',
        seen.cpu, seen.mem_bytes, seen.storage_bytes, ms_hypervisor
    FROM f WHERE code = 'missing_start'
    UNION ALL
    SELECT finding_id, 'H2', false, true, 1, ms_lo, NULL, 'open', seen.cpu, seen.mem_bytes, seen.storage_bytes,
        ms_hypervisor
    FROM f WHERE code = 'missing_start' AND open_possible
    UNION ALL
    -- missing_stop and shape_drift: the interval as the ledger bills it now
    SELECT finding_id, 'C', false, false, 1, i_start_ns, i_end_ns, i_status, i_cpu, i_mem_bytes, i_storage_bytes,
        i_hypervisor
    FROM f WHERE code IN ('missing_stop', 'shape_drift')
    UNION ALL
    -- missing_stop: stopped at lo (the most it was overbilled) or at c (the least)
    SELECT finding_id, 'L1', true, false, 1, i_start_ns, iv_lo, 'closed', i_cpu, i_mem_bytes, i_storage_bytes,
        i_hypervisor
    FROM f WHERE code = 'missing_stop'
    UNION ALL
    SELECT finding_id, 'H1', false, true, 1, i_start_ns, first_ns, 'closed', i_cpu, i_mem_bytes,
        i_storage_bytes, i_hypervisor
    FROM f WHERE code = 'missing_stop'
    UNION ALL
    -- ... and, seen running again at r (after_ns), restarted at r (least) or right after d (most)
    SELECT finding_id, 'L1', true, false, 2, after_ns, i_end_ns, i_status, i_cpu, i_mem_bytes, i_storage_bytes,
        i_hypervisor
    FROM f WHERE code = 'missing_stop' AND continues
    UNION ALL
    SELECT finding_id, 'H1', false, true, 2, last_ns, i_end_ns, i_status, i_cpu, i_mem_bytes, i_storage_bytes,
        i_hypervisor
    FROM f WHERE code = 'missing_stop' AND continues
    UNION ALL
    -- shape_drift: the shape changed at lo or at a (and, when it changed again, at b or r)
    SELECT finding_id, 'X' || c.t_r || c.t_back, true, true, 1, i_start_ns,
        CASE c.t_r WHEN 0 THEN iv_lo ELSE first_ns END, 'closed', i_cpu, i_mem_bytes, i_storage_bytes, i_hypervisor
    FROM f, (VALUES (0, 0), (0, 1), (1, 0), (1, 1)) AS c (t_r, t_back)
    WHERE code = 'shape_drift' AND (continues OR c.t_back = 0)
    UNION ALL
    SELECT finding_id, 'X' || c.t_r || c.t_back, true, true, 2,
        CASE c.t_r WHEN 0 THEN iv_lo ELSE first_ns END,
        CASE WHEN NOT continues THEN i_end_ns WHEN c.t_back = 0 THEN last_ns ELSE after_ns END,
        CASE WHEN continues THEN 'closed' ELSE i_status END,
        seen.cpu, seen.mem_bytes, seen.storage_bytes, i_hypervisor
    FROM f, (VALUES (0, 0), (0, 1), (1, 0), (1, 1)) AS c (t_r, t_back)
    WHERE code = 'shape_drift' AND (continues OR c.t_back = 0)
    UNION ALL
    SELECT finding_id, 'X' || c.t_r || c.t_back, true, true, 3,
        CASE WHEN c.t_back = 0 THEN last_ns ELSE after_ns END, i_end_ns, i_status, i_cpu, i_mem_bytes,
        i_storage_bytes, i_hypervisor
    FROM f, (VALUES (0, 0), (0, 1), (1, 0), (1, 1)) AS c (t_r, t_back)
    WHERE code = 'shape_drift' AND continues
    UNION ALL
    -- the probe: one increment or minimum at the larger of the shapes, ending at the first instant
    -- seen (or starting there, when the window starts too close before it)
    SELECT finding_id, 'P', false, false, 1,
        CASE WHEN first_ns - probe_ns >= getvariable('audit_window_start_ns') THEN first_ns - probe_ns
            ELSE first_ns END,
        CASE WHEN first_ns - probe_ns >= getvariable('audit_window_start_ns') THEN first_ns
            ELSE first_ns + probe_ns END,
        'closed',
        greatest(seen.cpu, coalesce(i_cpu, 0)), greatest(seen.mem_bytes, coalesce(i_mem_bytes, 0)),
        greatest(seen.storage_bytes, coalesce(i_storage_bytes, 0)), coalesce(i_hypervisor, ms_hypervisor)
    FROM f WHERE probe_ns > 0 AND (code = 'shape_drift' OR (code = 'missing_start' AND clamped))
)

SELECT
    p.*,
    f.family, f.resource_id,
    CASE WHEN f.code = 'shape_drift' THEN 1 + CASE WHEN f.continues THEN 1 ELSE 0 END
        WHEN f.code = 'missing_start' AND f.clamped THEN 1 ELSE 0 END AS eps_low,
    CASE WHEN f.code = 'shape_drift' THEN 1 + CASE WHEN f.continues THEN 1 ELSE 0 END
        WHEN f.code = 'missing_start' AND f.clamped THEN 1 ELSE 0 END AS eps_high
FROM pieces AS p
JOIN f USING (finding_id)
