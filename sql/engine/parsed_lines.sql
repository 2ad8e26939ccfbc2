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
        -- valid for DuckDB's JSON parser (yyjson, which is laxer than JSON: see `strict` below)
        CASE WHEN strlen(raw) <= 1048576 THEN json_valid(raw) ELSE false END AS valid
    FROM ledger_lines
),

-- One parse of the line: each member this stage reads as a JSON text (NULL when absent or null).
members AS (
    SELECT
        *,
        CASE
            WHEN NOT valid THEN NULL
            -- (an object whose text starts with whitespace is rare: json_type only runs for those)
            WHEN CASE WHEN starts_with(raw, '{') THEN true ELSE json_type(raw) = 'OBJECT' END THEN
                json_transform(raw, '{"kind": "JSON", "vm_id": "JSON", "snapshot_id": "JSON",
                    "source_snapshot_id": "JSON", "reason": "JSON", "hypervisor": "JSON", "shape": "JSON",
                    "emitted_at": "JSON"}')
        END AS m
    FROM lines
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

-- yyjson, DuckDB's JSON parser, also accepts NaN/Inf literals and trailing commas, which are not
-- JSON. A line is surely strict JSON when it holds exactly the members read here, written without
-- whitespace (the lengths add up: no other member can hold a NaN, no trailing comma fits) and those
-- start as strings and integers do: every line Go writes. Any other line is re-checked by a regex
-- over its text with the string literals blanked out.
strict AS (
    SELECT
        *,
        CASE
            WHEN NOT valid THEN false
            WHEN m IS NOT NULL
                AND strlen(raw) = 1 + (
                    coalesce(strlen(j_kind) + 8, 0) + coalesce(strlen(j_vm_id) + 9, 0)
                    + coalesce(strlen(j_snapshot_id) + 15, 0) + coalesce(strlen(j_source_snapshot_id) + 22, 0)
                    + coalesce(strlen(j_reason) + 10, 0) + coalesce(strlen(j_hypervisor) + 14, 0)
                    + coalesce(strlen(j_shape) + 9, 0) + coalesce(strlen(j_emitted_at) + 14, 0)
                )  -- '{', each member as '"key":value' plus one ',' or the closing '}'
                AND (j_shape IS NULL OR strlen(j_shape) = greatest(2, 1 + (
                    coalesce(strlen(j_cpu) + 7, 0) + coalesce(strlen(j_mem_bytes) + 13, 0)
                    + coalesce(strlen(j_storage_bytes) + 17, 0)
                )))
                AND coalesce(starts_with(j_kind, '"'), true) AND coalesce(starts_with(j_vm_id, '"'), true)
                AND coalesce(starts_with(j_snapshot_id, '"'), true)
                AND coalesce(starts_with(j_source_snapshot_id, '"'), true)
                AND coalesce(starts_with(j_reason, '"'), true) AND coalesce(starts_with(j_hypervisor, '"'), true)
                AND coalesce(starts_with(j_emitted_at, '"'), true)
                AND coalesce(ascii(j_cpu) BETWEEN 48 AND 57, true)  -- starts with a digit
                AND coalesce(ascii(j_mem_bytes) BETWEEN 48 AND 57, true)
                AND coalesce(ascii(j_storage_bytes) BETWEEN 48 AND 57, true)
                THEN true
            ELSE NOT regexp_matches(
                regexp_replace(raw, '"(?:[^"\\]|\\.)*"', '""', 'g'),
                '(?:^|[:\[,])[ \t\r\n]*[+-]?(?:[nN][aA]|[iI][nN])|,[ \t\r\n]*[\]}]'
            )
        END AS strict_valid
    FROM texts
),

fields AS (
    SELECT
        *,
        -- string members: NULL when absent, null or empty (omitempty makes these the same)
        nullif(CASE WHEN starts_with(j_kind, '"') THEN json_extract_string(j_kind, '$') END, '') AS kind,
        nullif(CASE WHEN starts_with(j_vm_id, '"') THEN json_extract_string(j_vm_id, '$') END, '') AS vm_id,
        nullif(CASE WHEN starts_with(j_snapshot_id, '"') THEN json_extract_string(j_snapshot_id, '$') END, '')
            AS snapshot_id,
        nullif(
            CASE WHEN starts_with(j_source_snapshot_id, '"') THEN json_extract_string(j_source_snapshot_id, '$') END,
            ''
        ) AS source_snapshot_id,
        nullif(CASE WHEN starts_with(j_reason, '"') THEN json_extract_string(j_reason, '$') END, '') AS reason,
        nullif(CASE WHEN starts_with(j_hypervisor, '"') THEN json_extract_string(j_hypervisor, '$') END, '')
            AS hypervisor,
        -- emitted_at's JSON text (quotes included) when it has the RFC 3339 form; values checked below
        CASE WHEN regexp_full_match(
            j_emitted_at,
            '"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"'
        ) THEN j_emitted_at END AS ts,
        -- shape members must be JSON integers: yyjson writes every other number with '.' or 'e';
        -- TRY_CAST to BIGINT is NULL beyond int64
        CASE WHEN NOT (contains(j_cpu, '.') OR contains(j_cpu, 'e') OR contains(j_cpu, 'E'))
            THEN TRY_CAST(j_cpu AS BIGINT) END AS cpu_i,
        CASE WHEN NOT (contains(j_mem_bytes, '.') OR contains(j_mem_bytes, 'e') OR contains(j_mem_bytes, 'E'))
            THEN TRY_CAST(j_mem_bytes AS BIGINT) END AS mem_i,
        CASE WHEN NOT (contains(j_storage_bytes, '.') OR contains(j_storage_bytes, 'e') OR contains(j_storage_bytes, 'E'))
            THEN TRY_CAST(j_storage_bytes AS BIGINT) END AS sto_i
    FROM strict
),

-- ts is "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)" (with its quotes): fixed positions up to
-- the seconds. The civil date and time go through DuckDB's TIMESTAMP cast (NULL for a date that does
-- not exist; it would take hour 24, so the hour is checked here); the zone digits are read with
-- ascii() (cheaper than casts).
ts_fields AS (
    SELECT
        *,
        TRY_CAST(substr(ts, 2, 10) || 'T' || substr(ts, 13, 8) AS TIMESTAMP) AS civil,
        substr(ts, 13, 2) <= '23' AS hour_ok,
        ends_with(ts, 'Z"') OR ends_with(ts, 'z"') AS zulu,
        strlen(ts) AS ts_len
    FROM fields
),

ts_zone AS (
    SELECT
        *,
        CASE WHEN zulu THEN 0 ELSE (ascii(substr(ts, ts_len - 5, 1)) - 48) * 10 + ascii(substr(ts, ts_len - 4, 1)) - 48 END
            AS oh,
        CASE WHEN zulu THEN 0 ELSE (ascii(substr(ts, ts_len - 2, 1)) - 48) * 10 + ascii(substr(ts, ts_len - 1, 1)) - 48 END
            AS om,
        CASE WHEN NOT zulu AND substr(ts, ts_len - 6, 1) = '-' THEN -1 ELSE 1 END AS offset_sign,
        -- fraction digits as nanoseconds, exactly (right-padded to 9 digits)
        CASE WHEN substr(ts, 21, 1) = '.'
            THEN CAST(rpad(substr(ts, 22, ts_len - 22 - CASE WHEN zulu THEN 1 ELSE 6 END), 9, '0') AS BIGINT)
            ELSE 0
        END AS frac_ns
    FROM ts_fields
),

ts_utc AS (
    SELECT
        *,
        civil IS NOT NULL AND hour_ok AND oh <= 23 AND om <= 59 AS ts_ok,
        -- whole seconds since the epoch, UTC
        epoch_ms(civil) // 1000 - offset_sign * (oh * 3600 + om * 60) AS utc_s
    FROM ts_zone
),

classified AS (
    SELECT
        *,
        CASE
            WHEN prescanned THEN NULL
            -- (trim is slow: only lines that are not JSON can be blank)
            WHEN CASE WHEN valid THEN false ELSE trim(raw, e' \t\r') = '' END THEN 'blank'
            WHEN strlen(raw) > 1048576 THEN 'line_too_long'
            WHEN NOT strict_valid THEN 'malformed_json'
            WHEN m IS NULL THEN 'not_an_object'  -- strict JSON, but not an object
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
