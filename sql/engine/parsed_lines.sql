-- parsed_lines: every line of `ledger_lines` classified: a SPEC reject code, or the event it becomes.
-- Input relation: ledger_lines(source_line, raw). Variables: file_index (the file's rank in the
-- ingest's sorted path list: the de-duplication order), source_file (its absolute path), prescan_marker (a line holding only this
-- text was classified by the Python pre-scan of an odd file and is skipped here; NULL on the fast path).
--
-- Codes in SPEC order, the first that applies wins: blank, invalid_utf8 and line_too_long (invalid
-- UTF-8 only ever comes from the pre-scan: the fast path reads valid UTF-8), malformed_json,
-- not_an_object, wrong_type, unknown_kind, missing_id, bad_timestamp, zero_timestamp,
-- implausible_timestamp, bad_shape.
-- Choices: a JSON null member counts as absent (Go's decoder leaves the field unset); a duplicated
-- key reads its first value; `blank` means only spaces, tabs and CRs; RFC 3339 accepts `t`/`z` in
-- lower case but no leap second (Go refuses second 60) and 1 to 9 fraction digits.
WITH
lines AS (
    SELECT
        source_line,
        raw,
        coalesce(raw = getvariable('prescan_marker'), false) AS prescanned,
        -- the line minified by DuckDB's JSON parser (yyjson); NULL when it is not JSON at all
        CASE WHEN strlen(raw) <= 1048576 THEN try(json(raw)) END AS minified
    FROM ledger_lines
),

-- yyjson also accepts NaN/Inf literals and trailing commas. A line that is already minified (every
-- line Go writes) holds neither; any other line is re-checked with its string literals blanked out.
strict AS (
    SELECT
        *,
        CASE
            WHEN minified IS NULL THEN false
            WHEN minified = raw THEN true
            ELSE NOT regexp_matches(
                regexp_replace(raw, '"(?:[^"\\]|\\.)*"', '""', 'g'),
                '(?:^|[:\[,])[ \t\r\n]*[+-]?(?:[nN][aA]|[iI][nN])|,[ \t\r\n]*[\]}]'
            )
        END AS strict_valid
    FROM lines
),

-- One parse of the line: each member this stage reads as a JSON text (NULL when absent or null).
members AS (
    SELECT
        *,
        CASE WHEN strict_valid AND starts_with(minified, '{') THEN
            json_transform(minified, '{"kind": "JSON", "vm_id": "JSON", "snapshot_id": "JSON",
                "source_snapshot_id": "JSON", "reason": "JSON", "hypervisor": "JSON", "shape": "JSON",
                "emitted_at": "JSON"}')
        END AS m
    FROM strict
),

shape_members AS (
    SELECT
        *,
        CASE WHEN starts_with(CAST(m.shape AS VARCHAR), '{') THEN
            json_transform(m.shape, '{"cpu": "JSON", "mem_bytes": "JSON", "storage_bytes": "JSON"}')
        END AS sm
    FROM members
),

-- JSON texts of the members; a string's text starts with '"', an object's with '{'
texts AS (
    SELECT
        *,
        CAST(m.kind AS VARCHAR) AS j_kind,
        CAST(m.vm_id AS VARCHAR) AS j_vm_id,
        CAST(m.snapshot_id AS VARCHAR) AS j_snapshot_id,
        CAST(m.source_snapshot_id AS VARCHAR) AS j_source_snapshot_id,
        CAST(m.reason AS VARCHAR) AS j_reason,
        CAST(m.hypervisor AS VARCHAR) AS j_hypervisor,
        CAST(m.shape AS VARCHAR) AS j_shape,
        CAST(m.emitted_at AS VARCHAR) AS j_emitted_at,
        CAST(sm.cpu AS VARCHAR) AS j_cpu,
        CAST(sm.mem_bytes AS VARCHAR) AS j_mem_bytes,
        CAST(sm.storage_bytes AS VARCHAR) AS j_storage_bytes
    FROM shape_members
),

fields AS (
    SELECT
        *,
        -- string members: NULL when absent, null or empty (omitempty makes these the same); a text
        -- without a backslash needs no unescaping
        nullif(CASE WHEN starts_with(j_kind, '"') THEN
            CASE WHEN contains(j_kind, '\') THEN json_extract_string(j_kind, '$') ELSE j_kind[2:-2] END
        END, '') AS kind,
        nullif(CASE WHEN starts_with(j_vm_id, '"') THEN
            CASE WHEN contains(j_vm_id, '\') THEN json_extract_string(j_vm_id, '$') ELSE j_vm_id[2:-2] END
        END, '') AS vm_id,
        nullif(CASE WHEN starts_with(j_snapshot_id, '"') THEN
            CASE WHEN contains(j_snapshot_id, '\') THEN json_extract_string(j_snapshot_id, '$')
            ELSE j_snapshot_id[2:-2] END
        END, '') AS snapshot_id,
        nullif(CASE WHEN starts_with(j_source_snapshot_id, '"') THEN
            CASE WHEN contains(j_source_snapshot_id, '\') THEN json_extract_string(j_source_snapshot_id, '$')
            ELSE j_source_snapshot_id[2:-2] END
        END, '') AS source_snapshot_id,
        nullif(CASE WHEN starts_with(j_reason, '"') THEN
            CASE WHEN contains(j_reason, '\') THEN json_extract_string(j_reason, '$') ELSE j_reason[2:-2] END
        END, '') AS reason,
        nullif(CASE WHEN starts_with(j_hypervisor, '"') THEN
            CASE WHEN contains(j_hypervisor, '\') THEN json_extract_string(j_hypervisor, '$')
            ELSE j_hypervisor[2:-2] END
        END, '') AS hypervisor,
        -- emitted_at's value when it is a well-formed RFC 3339 text (fields checked below)
        CASE WHEN regexp_full_match(
            j_emitted_at,
            '"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"'
        ) THEN j_emitted_at[2:-2] END AS ts,
        -- shape members must be JSON integers: yyjson writes every other number with '.' or 'e';
        -- TRY_CAST to BIGINT is NULL beyond int64
        CASE WHEN NOT regexp_matches(j_cpu, '[.eE]') THEN TRY_CAST(j_cpu AS BIGINT) END AS cpu_i,
        CASE WHEN NOT regexp_matches(j_mem_bytes, '[.eE]') THEN TRY_CAST(j_mem_bytes AS BIGINT) END AS mem_i,
        CASE WHEN NOT regexp_matches(j_storage_bytes, '[.eE]') THEN TRY_CAST(j_storage_bytes AS BIGINT) END AS sto_i
    FROM texts
),

-- ts is YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm): fixed positions up to the seconds
ts_fields AS (
    SELECT
        *,
        CAST(ts[1:4] AS BIGINT) AS y,
        CAST(ts[6:7] AS BIGINT) AS mo,
        CAST(ts[9:10] AS BIGINT) AS d,
        CAST(ts[12:13] AS BIGINT) AS h,
        CAST(ts[15:16] AS BIGINT) AS mi,
        CAST(ts[18:19] AS BIGINT) AS s,
        CASE WHEN upper(ts[-1:]) = 'Z' THEN 1 ELSE 6 END AS zone_len,
        CASE WHEN upper(ts[-1:]) = 'Z' THEN 0 ELSE CAST(ts[-5:-4] AS BIGINT) END AS oh,
        CASE WHEN upper(ts[-1:]) = 'Z' THEN 0 ELSE CAST(ts[-2:] AS BIGINT) END AS om,
        CASE WHEN ts[-6:-6] = '-' THEN -1 ELSE 1 END AS offset_sign
    FROM fields
),

ts_checked AS (
    SELECT
        *,
        -- fraction digits as nanoseconds, exactly (right-padded to 9 digits)
        CASE WHEN ts[20:20] = '.' THEN CAST(rpad(ts[21:strlen(ts) - zone_len], 9, '0') AS BIGINT) ELSE 0 END
            AS frac_ns,
        ts IS NOT NULL
        AND mo BETWEEN 1 AND 12
        AND d BETWEEN 1 AND (
            CASE
                WHEN mo = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
                WHEN mo IN (4, 6, 9, 11) THEN 30
                ELSE 31
            END
        )
        AND h <= 23 AND mi <= 59 AND s <= 59 AND oh <= 23 AND om <= 59 AS ts_ok,
        -- days since 1970-01-01 of the civil date (H. Hinnant's days_from_civil, years shifted by 400
        -- so that every intermediate stays non-negative)
        (
            ((y + 400 - CASE WHEN mo <= 2 THEN 1 ELSE 0 END) // 400) * 146097
            + ((y + 400 - CASE WHEN mo <= 2 THEN 1 ELSE 0 END) % 400) * 365
            + ((y + 400 - CASE WHEN mo <= 2 THEN 1 ELSE 0 END) % 400) // 4
            - ((y + 400 - CASE WHEN mo <= 2 THEN 1 ELSE 0 END) % 400) // 100
            + (153 * (mo + CASE WHEN mo > 2 THEN -3 ELSE 9 END) + 2) // 5 + d - 1
            - 719468 - 146097
        ) AS days
    FROM ts_fields
),

ts_utc AS (
    SELECT
        *,
        -- whole seconds since the epoch, UTC
        days * 86400 + h * 3600 + mi * 60 + s - offset_sign * (oh * 3600 + om * 60) AS utc_s
    FROM ts_checked
),

classified AS (
    SELECT
        *,
        CASE
            WHEN prescanned THEN NULL
            WHEN trim(raw, e' \t\r') = '' THEN 'blank'
            WHEN strlen(raw) > 1048576 THEN 'line_too_long'
            WHEN NOT strict_valid THEN 'malformed_json'
            WHEN m IS NULL THEN 'not_an_object'
            WHEN NOT starts_with(coalesce(j_kind, '"'), '"') OR NOT starts_with(coalesce(j_vm_id, '"'), '"')
                OR NOT starts_with(coalesce(j_snapshot_id, '"'), '"')
                OR NOT starts_with(coalesce(j_source_snapshot_id, '"'), '"')
                OR NOT starts_with(coalesce(j_reason, '"'), '"') OR NOT starts_with(coalesce(j_hypervisor, '"'), '"')
                OR NOT starts_with(coalesce(j_shape, '{'), '{') OR NOT starts_with(coalesce(j_emitted_at, '"'), '"')
                THEN 'wrong_type'
            WHEN kind IS NULL OR kind NOT IN (
                'vm.compute.start', 'vm.compute.stop', 'vm.storage.start', 'vm.storage.stop',
                'snap.storage.start', 'snap.storage.stop'
            ) THEN 'unknown_kind'
            WHEN (CASE WHEN starts_with(kind, 'vm.') THEN vm_id ELSE snapshot_id END) IS NULL THEN 'missing_id'
            WHEN NOT coalesce(ts_ok, false) THEN 'bad_timestamp'
            WHEN utc_s = -62135596800 AND frac_ns = 0 THEN 'zero_timestamp'
            WHEN utc_s < 946684800 OR utc_s >= 7258118400 THEN 'implausible_timestamp'
            WHEN (j_cpu IS NOT NULL AND NOT coalesce(cpu_i >= 0, false))
                OR (j_mem_bytes IS NOT NULL AND NOT coalesce(mem_i >= 0, false))
                OR (j_storage_bytes IS NOT NULL AND NOT coalesce(sto_i >= 0, false))
                THEN 'bad_shape'
        END AS code
    FROM ts_utc
)

SELECT
    getvariable('file_index') AS file_index,
    getvariable('source_file') AS source_file,
    source_line,
    prescanned,
    code,
    CASE WHEN code IS NOT NULL THEN raw END AS raw,
    CASE WHEN code IS NULL AND NOT prescanned THEN
        CASE WHEN starts_with(kind, 'vm.compute.') THEN 'vm.compute'
            WHEN starts_with(kind, 'vm.storage.') THEN 'vm.storage'
            ELSE 'snap.storage' END
    END AS family,
    CASE WHEN code IS NULL AND NOT prescanned THEN
        CASE WHEN ends_with(kind, '.start') THEN 'start' ELSE 'stop' END
    END AS endpoint,
    CASE WHEN code IS NULL AND NOT prescanned THEN
        CASE WHEN starts_with(kind, 'vm.') THEN vm_id ELSE snapshot_id END
    END AS resource_id,
    kind,
    vm_id,
    snapshot_id,
    source_snapshot_id,
    reason,
    hypervisor,
    CASE WHEN code IS NULL THEN coalesce(cpu_i, 0) END AS cpu,
    CASE WHEN code IS NULL THEN coalesce(mem_i, 0) END AS mem_bytes,
    CASE WHEN code IS NULL THEN coalesce(sto_i, 0) END AS storage_bytes,
    CASE WHEN code IS NULL AND NOT prescanned THEN utc_s * 1000000000 + frac_ns END AS emitted_ns,
    -- event_id: md5 of the normalised fields (docs/ARCHITECTURE.md): strings as <UTF-8 byte length>:<value>
    -- (NULL as 0:), integers in decimal, joined with '|'
    CASE WHEN code IS NULL AND NOT prescanned THEN md5(concat_ws('|',
        coalesce(strlen(kind) || ':' || kind, '0:'),
        coalesce(strlen(vm_id) || ':' || vm_id, '0:'),
        coalesce(strlen(snapshot_id) || ':' || snapshot_id, '0:'),
        coalesce(strlen(source_snapshot_id) || ':' || source_snapshot_id, '0:'),
        coalesce(strlen(reason) || ':' || reason, '0:'),
        coalesce(strlen(hypervisor) || ':' || hypervisor, '0:'),
        coalesce(cpu_i, 0),
        coalesce(mem_i, 0),
        coalesce(sto_i, 0),
        utc_s * 1000000000 + frac_ns
    )) END AS event_id
FROM classified
