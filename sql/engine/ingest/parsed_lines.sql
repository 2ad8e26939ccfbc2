-- parsed_lines: every line of `ledger_lines` classified: a SPEC reject code, or the event it becomes.
-- Input relation: ledger_lines(source_index, source_row, raw): the lines of a batch of sources
-- (`ingest_lines` numbers them with their files' line numbers, around the lines the Python pre-scan
-- classified itself, which are not in ledger_lines, and bounds them by the Python pass's count).
--
-- Codes in SPEC order, the first that applies wins: blank, invalid_utf8 and line_too_long (invalid
-- UTF-8 only ever comes from the pre-scan: the lines DuckDB reads are valid UTF-8), malformed_json,
-- not_an_object, wrong_type, unknown_kind, missing_id, bad_timestamp, zero_timestamp,
-- implausible_timestamp, bad_shape.
-- Needs the macros of json_members.sql.
-- Choices (docs/SPEC.md section 2): a JSON null member counts as absent (Go's decoder leaves the
-- field unset); a member that appears more than once is read as Go reads it (json_members.sql);
-- `blank` means only spaces, tabs and CRs; RFC 3339 accepts `t`/`z` in
-- lower case but no leap second (Go refuses second 60) and 1 to 9 fraction digits.
--
-- Two paths. Fast: one typed parse of the line (json_transform), then the line Go would write for
-- those values is rebuilt and compared with the line; when they are equal the line is strict JSON
-- with exactly the ledger's members, of the right types (every line Go or `recorder` writes, unless
-- a string needs escaping). Slow (every other line, and only those): each member is read as JSON
-- text, every occurrence of it, and its type checked.
WITH
lines AS (
    SELECT
        source_index,
        source_row,
        raw,
        strlen(raw) <= 1048576 AS short
    FROM ledger_lines
),

typed AS (
    SELECT
        *,
        CASE WHEN short AND starts_with(raw, '{"kind":"') THEN
            -- (try: NULL for a line that is not JSON; json_valid then runs only off the fast path)
            try(json_transform(raw, '{"kind": "VARCHAR", "vm_id": "VARCHAR", "snapshot_id": "VARCHAR",
                "source_snapshot_id": "VARCHAR", "reason": "VARCHAR", "hypervisor": "VARCHAR",
                "shape": {"cpu": "BIGINT", "mem_bytes": "BIGINT", "storage_bytes": "BIGINT"},
                "emitted_at": "VARCHAR"}'))
        END AS t
    FROM lines
),

fast AS (
    SELECT
        *,
        -- the line Go's encoder writes for the typed values (members in order, empty ones omitted)
        coalesce(raw = concat(
            '{"kind":"', t.kind,
            '"', ',"vm_id":"' || nullif(t.vm_id, '') || '"',
            ',"snapshot_id":"' || nullif(t.snapshot_id, '') || '"',
            ',"source_snapshot_id":"' || nullif(t.source_snapshot_id, '') || '"',
            ',"reason":"' || nullif(t.reason, '') || '"',
            ',"hypervisor":"' || nullif(t.hypervisor, '') || '"',
            ',"shape":{',
            concat_ws(
                ',',
                '"cpu":' || nullif(t.shape.cpu, 0),
                '"mem_bytes":' || nullif(t.shape.mem_bytes, 0),
                '"storage_bytes":' || nullif(t.shape.storage_bytes, 0)
            ),
            '},"emitted_at":"', t.emitted_at, '"}'
        ), false) AS canonical
    FROM typed
),

validated AS (
    SELECT
        *,
        -- valid for DuckDB's JSON parser (yyjson, which is laxer than JSON: see `strict` below); a
        -- canonical line is valid by construction, so the fast path parses each line only once
        CASE WHEN canonical THEN true WHEN short THEN json_valid(raw) ELSE false END AS valid
    FROM fast
),

-- Slow path, from here to `fields`: each member as the JSON texts of its occurrences, in order (a
-- member may appear more than once; macros of json_members.sql). Go's decoder reads them in turn:
-- a null leaves the value as it was, a later value replaces an earlier one, shape objects merge
-- member by member, and one occurrence it cannot decode (a wrong type) fails the whole line.
members AS (
    SELECT
        *,
        CASE
            WHEN canonical OR NOT valid THEN NULL
            -- (an object whose text starts with whitespace is rare: json_type only runs for those)
            WHEN CASE WHEN starts_with(raw, '{') THEN true ELSE json_type(raw) = 'OBJECT' END THEN json_keys(raw)
        END AS keys
    FROM validated
),

occurrences AS (
    SELECT
        *,
        CASE WHEN keys IS NOT NULL THEN json_extract(raw, '$.*') END AS vals
    FROM members
),

texts AS (
    SELECT
        *,
        member_texts(keys, vals, 'kind') AS o_kind,
        member_texts(keys, vals, 'vm_id') AS o_vm_id,
        member_texts(keys, vals, 'snapshot_id') AS o_snapshot_id,
        member_texts(keys, vals, 'source_snapshot_id') AS o_source_snapshot_id,
        member_texts(keys, vals, 'reason') AS o_reason,
        member_texts(keys, vals, 'hypervisor') AS o_hypervisor,
        member_texts(keys, vals, 'shape') AS o_shape,
        member_texts(keys, vals, 'emitted_at') AS o_emitted_at
    FROM occurrences
),

shape_texts AS (
    SELECT
        *,
        shape_member_texts(o_shape, 'cpu') AS o_cpu,
        shape_member_texts(o_shape, 'mem_bytes') AS o_mem_bytes,
        shape_member_texts(o_shape, 'storage_bytes') AS o_storage_bytes
    FROM texts
),

values_ AS (
    SELECT
        *,
        member_value(o_kind) AS j_kind,
        member_value(o_vm_id) AS j_vm_id,
        member_value(o_snapshot_id) AS j_snapshot_id,
        member_value(o_source_snapshot_id) AS j_source_snapshot_id,
        member_value(o_reason) AS j_reason,
        member_value(o_hypervisor) AS j_hypervisor,
        member_value(o_emitted_at) AS j_emitted_at,
        member_value(o_cpu) AS j_cpu,
        member_value(o_mem_bytes) AS j_mem_bytes,
        member_value(o_storage_bytes) AS j_storage_bytes
    FROM shape_texts
),

-- yyjson also accepts NaN/Inf literals and trailing commas, which are not JSON: a slow-path line is
-- checked by a regex over its text with the string literals blanked out.
strict AS (
    SELECT
        *,
        CASE
            WHEN canonical THEN true
            WHEN NOT valid THEN false
            ELSE NOT regexp_matches(
                regexp_replace(raw, '"(?:[^"\\]|\\.)*"', '""', 'g'),
                '(?:^|[:\[,])[ \t\r\n]*[+-]?(?:[nN][aA]|[iI][nN])|,[ \t\r\n]*[\]}]'
            )
        END AS strict_valid
    FROM values_
),

-- The values, from the path each line took.
fields AS (
    SELECT
        *,
        -- string members: NULL when absent, null or empty (omitempty makes these the same)
        nullif(CASE WHEN canonical THEN t.kind WHEN starts_with(j_kind, '"') THEN json_extract_string(j_kind, '$') END, '')
            AS kind,
        nullif(CASE WHEN canonical THEN t.vm_id WHEN starts_with(j_vm_id, '"') THEN json_extract_string(j_vm_id, '$') END, '')
            AS vm_id,
        nullif(CASE WHEN canonical THEN t.snapshot_id
            WHEN starts_with(j_snapshot_id, '"') THEN json_extract_string(j_snapshot_id, '$') END, '')
            AS snapshot_id,
        nullif(CASE WHEN canonical THEN t.source_snapshot_id
            WHEN starts_with(j_source_snapshot_id, '"') THEN json_extract_string(j_source_snapshot_id, '$') END, '')
            AS source_snapshot_id,
        nullif(CASE WHEN canonical THEN t.reason
            WHEN starts_with(j_reason, '"') THEN json_extract_string(j_reason, '$') END, '')
            AS reason,
        nullif(CASE WHEN canonical THEN t.hypervisor
            WHEN starts_with(j_hypervisor, '"') THEN json_extract_string(j_hypervisor, '$') END, '')
            AS hypervisor,
        CASE WHEN canonical THEN t.emitted_at
            WHEN starts_with(j_emitted_at, '"') THEN json_extract_string(j_emitted_at, '$') END AS emitted_text,
        -- shape members: the last non-null occurrence, a JSON integer in int64 (yyjson writes every
        -- other number with '.' or 'e'; TRY_CAST to BIGINT is NULL beyond int64)
        CASE WHEN canonical THEN t.shape.cpu ELSE TRY_CAST(j_cpu AS BIGINT) END AS cpu_i,
        CASE WHEN canonical THEN t.shape.mem_bytes ELSE TRY_CAST(j_mem_bytes AS BIGINT) END AS mem_i,
        CASE WHEN canonical THEN t.shape.storage_bytes ELSE TRY_CAST(j_storage_bytes AS BIGINT) END AS sto_i,
        -- an occurrence of a shape member that is not null and not an int64 integer
        CASE WHEN canonical THEN false ELSE
            NOT (int64_texts(o_cpu) AND int64_texts(o_mem_bytes) AND int64_texts(o_storage_bytes))
        END AS slow_bad_shape,
        -- an occurrence of a member of the wrong JSON type
        CASE WHEN canonical THEN false ELSE NOT (
            texts_start_with(o_kind, '"') AND texts_start_with(o_vm_id, '"')
            AND texts_start_with(o_snapshot_id, '"') AND texts_start_with(o_source_snapshot_id, '"')
            AND texts_start_with(o_reason, '"') AND texts_start_with(o_hypervisor, '"')
            AND texts_start_with(o_shape, '{') AND texts_start_with(o_emitted_at, '"')
        ) END AS slow_wrong_type,
        -- an earlier emitted_at occurrence that is not an RFC 3339 time (Go's decoder refuses the line)
        CASE WHEN canonical THEN false ELSE NOT texts_rfc3339(o_emitted_at) END AS slow_bad_earlier_time
    FROM strict
),

-- emitted_text as YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm). DuckDB's TIMESTAMP_NS cast reads
-- the civil date and time with all nine fraction digits exactly, and ignores the zone offset, which
-- is then subtracted here; it takes hour 24 (checked here) and only years 1678 to 2261, so an
-- instant outside (all implausible, or Go's zero time) is read with the TIMESTAMP cast instead.
ts_fields AS (
    SELECT
        *,
        regexp_full_match(
            emitted_text,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})'
        ) AS ts_form,
        ends_with(emitted_text, 'Z') OR ends_with(emitted_text, 'z') AS zulu
    FROM fields
),

ts_civil AS (
    SELECT
        *,
        CASE WHEN ts_form THEN epoch_ns(TRY_CAST(emitted_text AS TIMESTAMP_NS)) END AS civil_ns_upper,
        -- the offset as a signed hhmm number: '+05:30' -> 530, '-00:45' -> -45
        CASE WHEN ts_form AND NOT zulu THEN CAST(replace(right(emitted_text, 6), ':', '') AS INTEGER) ELSE 0 END AS hhmm
    FROM ts_fields
),

ts_zone AS (
    SELECT
        *,
        -- (lower-case t or z: the cast wants upper case)
        CASE WHEN civil_ns_upper IS NOT NULL THEN civil_ns_upper
            WHEN ts_form THEN epoch_ns(TRY_CAST(upper(emitted_text) AS TIMESTAMP_NS))
        END AS civil_ns,
        abs(hhmm) // 100 AS oh,
        abs(hhmm) % 100 AS om,
        sign(hhmm) * ((abs(hhmm) // 100) * 3600 + (abs(hhmm) % 100) * 60) AS offset_s
    FROM ts_civil
),

ts_far AS (
    SELECT
        *,
        -- whole UTC seconds of an instant outside TIMESTAMP_NS (NULL when the date does not exist)
        CASE WHEN ts_form AND civil_ns IS NULL THEN
            epoch_ms(TRY_CAST(upper(substr(emitted_text, 1, 19)) AS TIMESTAMP)) // 1000 - offset_s
        END AS far_s,
        CASE WHEN ts_form AND civil_ns IS NULL THEN
            NOT regexp_matches(regexp_extract(emitted_text, '\.([0-9]+)', 1), '[1-9]')
        END AS far_whole_second
    FROM ts_zone
),

ts_utc AS (
    SELECT
        *,
        coalesce(
            ts_form AND (civil_ns IS NOT NULL OR far_s IS NOT NULL)
            AND substr(emitted_text, 12, 2) <= '23' AND oh <= 23 AND om <= 59,
            false
        ) AS ts_ok,
        -- the instant in UTC nanoseconds (within a day of the plausible range, else NULL: no overflow)
        CASE WHEN civil_ns BETWEEN 946598400000000000 AND 7258204800000000000
            THEN civil_ns - CAST(offset_s AS BIGINT) * 1000000000
        END AS utc_ns
    FROM ts_far
),

classified AS (
    SELECT
        *,
        CASE
            WHEN canonical THEN NULL  -- the checks of the slow path hold by construction
            -- (trim is slow: only lines that are not JSON can be blank)
            WHEN CASE WHEN valid THEN false ELSE trim(raw, e' \t\r') = '' END THEN 'blank'
            WHEN strlen(raw) > 1048576 THEN 'line_too_long'
            WHEN NOT strict_valid THEN 'malformed_json'
            WHEN keys IS NULL THEN 'not_an_object'  -- strict JSON, but not an object
            WHEN slow_wrong_type THEN 'wrong_type'
        END AS early_code
    FROM ts_utc
),

coded AS (
    SELECT
        *,
        CASE
            WHEN early_code IS NOT NULL THEN early_code
            WHEN kind IS NULL OR kind NOT IN (
                'vm.compute.start', 'vm.compute.stop', 'vm.storage.start', 'vm.storage.stop',
                'snap.storage.start', 'snap.storage.stop'
            ) THEN 'unknown_kind'
            WHEN (CASE WHEN starts_with(kind, 'vm.') THEN vm_id ELSE snapshot_id END) IS NULL THEN 'missing_id'
            WHEN NOT ts_ok OR slow_bad_earlier_time THEN 'bad_timestamp'
            WHEN far_s = -62135596800 AND far_whole_second THEN 'zero_timestamp'
            WHEN utc_ns IS NULL OR utc_ns < 946684800000000000 OR utc_ns >= 7258118400000000000
                THEN 'implausible_timestamp'
            WHEN slow_bad_shape OR cpu_i < 0 OR mem_i < 0 OR sto_i < 0 THEN 'bad_shape'
        END AS code
    FROM classified
)

SELECT
    source_index,
    source_row,  -- NULL when one ordered query parses the batch: numbered in `ingest_lines`
    code,
    CASE WHEN code IS NOT NULL THEN raw END AS raw,
    -- (family, endpoint, resource_id and source_file follow from kind, the ids and source: added
    -- by `ingest_lines`, so the scratch Parquet does not hold them)
    kind,
    vm_id,
    snapshot_id,
    source_snapshot_id,
    reason,
    hypervisor,
    CASE WHEN code IS NULL THEN coalesce(cpu_i, 0) END AS cpu,
    CASE WHEN code IS NULL THEN coalesce(mem_i, 0) END AS mem_bytes,
    CASE WHEN code IS NULL THEN coalesce(sto_i, 0) END AS storage_bytes,
    CASE WHEN code IS NULL THEN utc_ns END AS emitted_ns,
    -- event_id: md5 of the normalised fields (docs/ARCHITECTURE.md): strings as <UTF-8 byte length>:<value>
    -- (NULL as 0:), integers in decimal, joined with '|'
    CASE WHEN code IS NULL THEN md5(concat(
        coalesce(strlen(kind), 0), ':', kind, '|',
        coalesce(strlen(vm_id), 0), ':', vm_id, '|',
        coalesce(strlen(snapshot_id), 0), ':', snapshot_id, '|',
        coalesce(strlen(source_snapshot_id), 0), ':', source_snapshot_id, '|',
        coalesce(strlen(reason), 0), ':', reason, '|',
        coalesce(strlen(hypervisor), 0), ':', hypervisor, '|',
        coalesce(cpu_i, 0), '|', coalesce(mem_i, 0), '|', coalesce(sto_i, 0), '|', utc_ns
    )) END AS event_id
FROM coded
