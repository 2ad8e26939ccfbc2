-- inventory_jsonl: the rows of JSON Lines inventory snapshot files, one per line, read as text and parsed with the JSON functions.
-- Variable: audit_file_paths (the files, their glob characters escaped).
-- Each line is read as written (one-column CSV with a NUL delimiter and no quote, as ingest reads
-- ledgers), numbered from 1 in its file (the files are read in order, one after the other, and
-- WITH ORDINALITY numbers the rows in that order); a blank line is skipped. String members are given as text; shape
-- members as their JSON text (`4`, `-1`, `1.5`, `"4"`), judged by inventory_rows. `malformed`
-- names what makes a line unreadable as a row (not JSON, not an object, a member of the wrong
-- JSON type), else NULL.
WITH lines AS (
    SELECT filename, row_number() OVER (PARTITION BY filename ORDER BY ordinality) AS line, raw
    FROM read_csv(
        getvariable('audit_file_paths'),
        columns = {'raw': 'VARCHAR'},
        delim = '\0',
        quote = '',
        escape = '',
        header = false,
        auto_detect = false,
        strict_mode = false,
        new_line = '\r\n',
        filename = true
    ) WITH ORDINALITY
),

parsed AS (
    SELECT
        filename,
        line,
        raw,
        CASE
            WHEN NOT json_valid(raw) THEN 'malformed_json'
            WHEN json_type(CAST(raw AS JSON)) <> 'OBJECT' THEN 'not_an_object'
        END AS unreadable
    FROM lines
    WHERE raw IS NOT NULL AND trim(raw) <> ''
),

members AS (
    SELECT
        filename,
        line,
        raw,
        unreadable,
        CASE WHEN unreadable IS NULL THEN CAST(raw AS JSON) END AS doc
    FROM parsed
),

typed AS (
    SELECT
        filename,
        line,
        raw,
        unreadable,
        doc,
        -- the first string member holding another JSON type (NULL and absent are fine)
        CASE
            WHEN json_type(doc -> 'observed_at') NOT IN ('VARCHAR', 'NULL') THEN 'observed_at'
            WHEN json_type(doc -> 'family') NOT IN ('VARCHAR', 'NULL') THEN 'family'
            WHEN json_type(doc -> 'resource_id') NOT IN ('VARCHAR', 'NULL') THEN 'resource_id'
            WHEN json_type(doc -> 'hypervisor') NOT IN ('VARCHAR', 'NULL') THEN 'hypervisor'
            WHEN json_type(doc -> 'tenant_id') NOT IN ('VARCHAR', 'NULL') THEN 'tenant_id'
        END AS wrong_member
    FROM members
)

SELECT
    filename,
    line,
    doc ->> 'observed_at' AS observed_at,
    doc ->> 'family' AS family,
    doc ->> 'resource_id' AS resource_id,
    CASE WHEN json_type(doc -> 'cpu') <> 'NULL' THEN CAST(doc -> 'cpu' AS VARCHAR) END AS cpu,
    CASE WHEN json_type(doc -> 'mem_bytes') <> 'NULL' THEN CAST(doc -> 'mem_bytes' AS VARCHAR) END AS mem_bytes,
    CASE WHEN json_type(doc -> 'storage_bytes') <> 'NULL' THEN CAST(doc -> 'storage_bytes' AS VARCHAR) END
        AS storage_bytes,
    doc ->> 'hypervisor' AS hypervisor,
    doc ->> 'tenant_id' AS tenant_id,
    coalesce(unreadable, 'wrong_type: ' || wrong_member) AS malformed,
    left(raw, 200) AS raw
FROM typed
