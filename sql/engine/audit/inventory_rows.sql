-- inventory_rows: the rows of inventory snapshot files, checked: each with its instant, resource and priced shape, or the code of what is wrong with it.
-- Input: relation audit_file (the rows of a batch of files, as each format's reader gives them:
-- file_no, line;
-- observed_at as text or observed_n as Unix ns (a Parquet timestamp); family, resource_id,
-- hypervisor, tenant_id as text; each shape member as text (cpu) or as a BIGINT (cpu_n); malformed:
-- why the row could not be read at all, else NULL; raw: its text, when there is one).
-- Codes, the first that applies (docs/SPEC.md, "Inventory snapshots"): malformed, bad_timestamp
-- (missing, not RFC 3339, or outside 2000-01-01 .. 2200-01-01), unknown_family, missing_id,
-- bad_shape (a member not a whole number from 0 to 2^63-1; empty or absent is 0). `detail`
-- names the field and its value. A rejected row keeps what could be read of its instant, family
-- and resource (the audit then neither trusts nor blames that resource at that instant).
-- The instants are parsed once per distinct text (a snapshot's rows share one).
WITH texts AS (
    SELECT DISTINCT observed_at AS at_text
    FROM audit_file
    WHERE observed_n IS NULL AND observed_at IS NOT NULL
),

forms AS (
    SELECT
        at_text,
        regexp_full_match(
            at_text,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})'
        ) AS ok,
        CASE WHEN regexp_matches(at_text, '[+-][0-9]{2}:[0-9]{2}$')
            THEN CAST(replace(right(at_text, 6), ':', '') AS INTEGER) ELSE 0 END AS hhmm
    FROM texts
),

instants AS (
    SELECT
        at_text,
        CASE WHEN ok AND substr(at_text, 12, 2) <= '23' AND abs(hhmm) // 100 <= 23 AND abs(hhmm) % 100 <= 59
            THEN epoch_ns(TRY_CAST(
                upper(regexp_replace(at_text, '([Zz]|[+-][0-9]{2}:[0-9]{2})$', '')) AS TIMESTAMP_NS
            )) - CAST(sign(hhmm) * ((abs(hhmm) // 100) * 3600 + (abs(hhmm) % 100) * 60) AS BIGINT) * 1000000000
        END AS at_ns
    FROM forms
),

values AS (
    SELECT
        f.file_no,
        f.line,
        f.malformed,
        f.raw,
        f.observed_at,
        coalesce(f.observed_n, i.at_ns) AS at_ns,
        f.family,
        f.resource_id,
        f.hypervisor,
        f.tenant_id,
        f.cpu, f.mem_bytes, f.storage_bytes,
        CASE WHEN f.cpu_n IS NOT NULL THEN f.cpu_n WHEN coalesce(f.cpu, '') = '' THEN 0
            WHEN regexp_full_match(f.cpu, '[0-9]{1,19}') THEN TRY_CAST(f.cpu AS BIGINT) END AS cpu_v,
        CASE WHEN f.mem_n IS NOT NULL THEN f.mem_n WHEN coalesce(f.mem_bytes, '') = '' THEN 0
            WHEN regexp_full_match(f.mem_bytes, '[0-9]{1,19}') THEN TRY_CAST(f.mem_bytes AS BIGINT) END AS mem_v,
        CASE WHEN f.storage_n IS NOT NULL THEN f.storage_n WHEN coalesce(f.storage_bytes, '') = '' THEN 0
            WHEN regexp_full_match(f.storage_bytes, '[0-9]{1,19}') THEN TRY_CAST(f.storage_bytes AS BIGINT) END
            AS storage_v,
        coalesce(f.cpu_n, 0) < 0 OR coalesce(f.mem_n, 0) < 0 OR coalesce(f.storage_n, 0) < 0 AS negative
    FROM audit_file AS f
    LEFT JOIN instants AS i ON i.at_text = f.observed_at
),

judged AS (
    SELECT
        *,
        at_ns IS NOT NULL AND at_ns >= 946684800000000000 AND at_ns < 7258118400000000000 AS at_ok,
        family IN ('vm.compute', 'vm.storage', 'snap.storage') AS family_ok,
        coalesce(resource_id, '') <> '' AS id_ok
    FROM values
)

SELECT
    file_no,
    line,
    CASE WHEN at_ok THEN at_ns END AS observed_ns,
    CASE WHEN family_ok THEN family END AS family,
    CASE WHEN id_ok THEN resource_id END AS resource_id,
    coalesce(cpu_v, 0) AS cpu,
    coalesce(mem_v, 0) AS mem_bytes,
    coalesce(storage_v, 0) AS storage_bytes,
    nullif(hypervisor, '') AS hypervisor,
    nullif(tenant_id, '') AS tenant_id,
    CASE
        WHEN malformed IS NOT NULL THEN 'malformed'
        WHEN NOT at_ok THEN 'bad_timestamp'
        WHEN NOT family_ok THEN 'unknown_family'
        WHEN NOT id_ok THEN 'missing_id'
        WHEN cpu_v IS NULL OR mem_v IS NULL OR storage_v IS NULL OR negative THEN 'bad_shape'
    END AS code,
    CASE
        WHEN malformed IS NOT NULL THEN malformed || coalesce(': ' || raw, '')
        WHEN NOT at_ok THEN 'observed_at ' || coalesce('''' || observed_at || '''', 'missing')
            || CASE WHEN at_ns IS NOT NULL THEN ' (before 2000 or from 2200)' ELSE '' END
        WHEN NOT family_ok THEN 'family ' || coalesce('''' || family || '''', 'missing')
        WHEN NOT id_ok THEN 'resource_id ' || coalesce('''' || resource_id || '''', 'missing')
        WHEN cpu_v IS NULL OR coalesce(cpu_v, 0) < 0 THEN 'cpu ''' || coalesce(cpu, CAST(cpu_v AS VARCHAR)) || ''''
        WHEN mem_v IS NULL OR coalesce(mem_v, 0) < 0 THEN 'mem_bytes ''' || coalesce(mem_bytes, CAST(mem_v AS VARCHAR)) || ''''
        WHEN storage_v IS NULL OR coalesce(storage_v, 0) < 0 THEN 'storage_bytes '''
            || coalesce(storage_bytes, CAST(storage_v AS VARCHAR)) || ''''
    END AS detail
FROM judged
