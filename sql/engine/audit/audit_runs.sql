-- audit_runs: the findings before their money: each run of consecutive snapshot instants at which a resource differs from the ledger in one way, with the evidence around it.
-- Inputs: relations audit_diffs (kinds unbilled, unlisted, drift), audit_instants (idx,
-- observed_ns, complete), audit_excluded, audit_events, audit_ledger. Variables:
-- audit_window_start_ns, audit_cut_off_ns.
-- Evidence: an instant where a snapshot is complete and no bad row left the resource unknown.
-- A run is the diff rows of one resource, one kind, one ledger interval (and, but for a missing
-- stop, one snapshot shape) with no evidence instant between two of them where the snapshot agreed (and,
-- for rows no interval bills, no ledger event of the resource between them).
-- Per run: first_ns/last_ns (the first and last instant showing it), snapshots (how many),
-- before_ns (the last evidence instant before it: the snapshot agreed with the ledger then),
-- after_ns (the first after it) and after_kind (what the resource showed then, when it did not
-- agree), the ledger events around it (prev_event_ns, next_event_ns, next_is_unmatched_stop), and the
-- interval it concerns (i_*).
WITH d AS (
    SELECT *
    FROM audit_diffs
    WHERE kind IN ('unbilled', 'unlisted', 'drift')
),

ranked AS (
    SELECT idx, complete, sum(CASE WHEN complete THEN 1 ELSE 0 END) OVER (ORDER BY idx) AS crank
    FROM audit_instants
),

excluded AS (
    SELECT x.family, x.resource_id, x.observed_ns, i.idx
    FROM audit_excluded AS x
    JOIN audit_instants AS i USING (observed_ns)
    WHERE i.complete
),

stepped AS (
    SELECT
        d.*,
        r.crank,
        r.complete,
        CASE WHEN d.family = 'vm.compute' THEN [d.cpu, d.mem_bytes] ELSE [d.storage_bytes] END AS shape_key,
        lag(d.idx) OVER w AS prev_idx,
        lag(d.observed_ns) OVER w AS prev_ns,
        lag(d.kind) OVER w AS prev_kind,
        lag(d.interval_id) OVER w AS prev_interval,
        lag(CASE WHEN d.family = 'vm.compute' THEN [d.cpu, d.mem_bytes] ELSE [d.storage_bytes] END) OVER w
            AS prev_shape,
        lag(r.crank) OVER w AS prev_crank
    FROM d
    JOIN ranked AS r USING (idx)
    WINDOW w AS (PARTITION BY d.family, d.resource_id ORDER BY d.idx)
),

gaps AS (
    SELECT
        s.*,
        -- evidence instants strictly between this row and the previous one of the resource
        s.crank - s.prev_crank - CASE WHEN s.complete THEN 1 ELSE 0 END - (
            SELECT count(*) FROM excluded AS x
            WHERE x.family = s.family AND x.resource_id = s.resource_id AND x.idx > s.prev_idx AND x.idx < s.idx
        ) AS evidence_between,
        (
            SELECT count(*) FROM audit_events AS e
            WHERE e.family = s.family AND e.resource_id = s.resource_id AND e.at_ns > s.prev_ns
                AND e.at_ns <= s.observed_ns
        ) AS events_between
    FROM stepped AS s
),

numbered AS (
    SELECT
        *,
        sum(CASE
            WHEN prev_idx IS NULL OR kind <> prev_kind OR interval_id IS DISTINCT FROM prev_interval
                OR (kind IN ('drift', 'unbilled') AND shape_key <> prev_shape) OR evidence_between > 0
                OR (kind = 'unbilled' AND events_between > 0) THEN 1 ELSE 0 END
        ) OVER (PARTITION BY family, resource_id ORDER BY idx) AS run_no
    FROM gaps
),

runs AS (
    SELECT
        family, resource_id, run_no,
        any_value(kind) AS kind,
        any_value(interval_id) AS interval_id,
        min(idx) AS first_idx, max(idx) AS last_idx,
        min(observed_ns) AS first_ns, max(observed_ns) AS last_ns,
        count(*) AS snapshots,
        arg_min({'cpu': cpu, 'mem_bytes': mem_bytes, 'storage_bytes': storage_bytes, 'hypervisor': hypervisor,
                 'tenant_id': tenant_id, 'file_no': file_no, 'line': line}, idx) AS seen
    FROM numbered
    GROUP BY family, resource_id, run_no
),

evidence AS (
    SELECT
        r.*,
        (SELECT max(i.observed_ns) FROM audit_instants AS i
         WHERE i.complete AND i.idx < r.first_idx
           AND NOT EXISTS (SELECT 1 FROM excluded AS x
                           WHERE x.family = r.family AND x.resource_id = r.resource_id AND x.idx = i.idx)
        ) AS before_ns,
        (SELECT min(i.observed_ns) FROM audit_instants AS i
         WHERE i.complete AND i.idx > r.last_idx
           AND NOT EXISTS (SELECT 1 FROM excluded AS x
                           WHERE x.family = r.family AND x.resource_id = r.resource_id AND x.idx = i.idx)
        ) AS after_ns,
        (SELECT max(e.at_ns) FROM audit_events AS e
         WHERE e.family = r.family AND e.resource_id = r.resource_id AND e.at_ns <= r.first_ns) AS prev_event_ns,
        (SELECT arg_max(e.hypervisor, e.at_ns) FROM audit_events AS e
         WHERE e.family = r.family AND e.resource_id = r.resource_id AND e.at_ns <= r.first_ns
           AND e.hypervisor IS NOT NULL) AS prev_hypervisor,
        (SELECT min(e.at_ns) FROM audit_events AS e
         WHERE e.family = r.family AND e.resource_id = r.resource_id AND e.at_ns > r.last_ns) AS next_event_ns
    FROM runs AS r
),

nexts AS (
    SELECT
        v.*,
        coalesce((SELECT bool_or(e.endpoint = 'unmatched_stop') FROM audit_events AS e
         WHERE e.family = v.family AND e.resource_id = v.resource_id AND e.at_ns = v.next_event_ns), false)
            AS next_is_unmatched_stop,
        (SELECT any_value(e.hypervisor) FROM audit_events AS e
         WHERE e.family = v.family AND e.resource_id = v.resource_id AND e.at_ns = v.next_event_ns)
            AS next_hypervisor,
        (SELECT any_value(d.kind) FROM d
         WHERE d.family = v.family AND d.resource_id = v.resource_id AND d.observed_ns = v.after_ns) AS after_kind
    FROM evidence AS v
),

coded AS (
    SELECT
        row_number() OVER (ORDER BY n.family, n.resource_id, n.first_ns) AS finding_id,
        CASE n.kind WHEN 'unbilled' THEN 'missing_start' WHEN 'unlisted' THEN 'missing_stop' ELSE 'shape_drift' END
            AS code,
        n.* EXCLUDE (run_no, kind),
        l.start_ns AS i_start_ns, l.end_ns AS i_end_ns, l.status AS i_status, l.cpu AS i_cpu,
        l.mem_bytes AS i_mem_bytes, l.storage_bytes AS i_storage_bytes, l.hypervisor AS i_hypervisor
    FROM nexts AS n
    LEFT JOIN audit_ledger AS l USING (interval_id)
)

-- the ranges of the instants the ledger missed: the first lies in (lo_ns, first_ns]; a missing
-- start's stop at its next unmatched stop (known_end), else in (last_ns, hi_ns] or, with no
-- evidence after it (open_possible), maybe after the cut-off; an interval's second change (a
-- restart after a missing stop, a change back after a drift) in (last_ns, after_ns] when the
-- resource was seen again inside the interval (continues)
SELECT
    *,
    CASE WHEN code = 'missing_start'
        THEN greatest(before_ns, prev_event_ns, getvariable('audit_window_start_ns'))
        ELSE greatest(before_ns, i_start_ns) END AS lo_ns,
    code = 'missing_start' AND next_is_unmatched_stop AND (after_ns IS NULL OR next_event_ns <= after_ns)
        AS known_end,
    CASE WHEN code = 'missing_start' THEN least(after_ns, next_event_ns, getvariable('audit_cut_off_ns')) END
        AS hi_ns,
    code = 'missing_start' AND after_ns IS NULL AND next_event_ns IS NULL AS open_possible,
    code = 'missing_start' AND before_ns IS NULL AND prev_event_ns IS NULL AS clamped,
    code <> 'missing_start' AND after_ns IS NOT NULL AND (i_end_ns IS NULL OR after_ns < i_end_ns) AS continues
FROM coded
