-- bill_versions: every version of each period's bill, per currency: run_id, when it was committed, its total, why it was made
-- Input: variable version_files (every manifests/period=P/manifest.json and every kept
-- history/period=P/version=N/manifest.json of the output folder, as literal paths).
-- A period's first run is version 1; a run that replaces it with other inputs is the next version,
-- and the replaced one is kept under history/ (its manifest, invoice and interval lines). `why` is
-- what changed from the version before (late ingests with their first file:line, price book,
-- tenants, options); NULL for a first version. A version without charges is one row, currency NULL.
WITH manifest AS (
    SELECT
        coalesce(
            nullif(regexp_extract(filename, '/manifests/period=([^/]+)/manifest\.json$', 1), ''),
            nullif(regexp_extract(filename, '/history/period=([^/]+)/version=[0-9]+/manifest\.json$', 1), '')
        ) AS period,
        filename LIKE '%/manifests/period=%' AS current,
        try_cast(nullif(regexp_extract(filename, '/version=([0-9]+)/manifest\.json$', 1), '') AS BIGINT)
            AS kept_version,
        run_id,
        version,
        committed_at,
        totals,
        json_extract_string(replaces, '$.why') AS why,
        json_extract_string(replaces, '$.run_id') AS replaces_run_id,
        filename AS manifest_file
    FROM read_json(
        getvariable('version_files'),
        columns = {
            run_id: 'VARCHAR',
            version: 'BIGINT',
            committed_at: 'VARCHAR',
            totals: 'MAP(VARCHAR, VARCHAR)',
            replaces: 'JSON'
        },
        filename = true
    )
),
numbered AS (
    SELECT
        *,
        -- a manifest written before versions were recorded: kept ones by their folder, the current one last
        coalesce(version, kept_version, count(*) OVER (PARTITION BY period)) AS bill_version
    FROM manifest
)
SELECT
    period,
    bill_version AS version,
    current,
    run_id,
    CAST(committed_at AS TIMESTAMPTZ_NS) AS committed_at,
    unnest(CASE WHEN totals IS NULL OR cardinality(totals) = 0 THEN [NULL] ELSE map_keys(totals) END)
        AS currency,
    CAST(totals[currency] AS DECIMAL(38, 12)) AS total,
    why,
    replaces_run_id,
    manifest_file
FROM numbered
ORDER BY period, version, currency
