-- runs: one row per period in the output folder, from its manifest.json: run_id, period bounds and cut-off
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- Instants are read from the manifests' RFC 3339 strings as UTC TIMESTAMP_NS (a 'Z' instant keeps
-- its nanoseconds; one with an offset goes through TIMESTAMPTZ, microseconds).
SELECT
    run_id,
    -- the period label, when the manifest sits under a period=... folder
    nullif(regexp_extract(filename, '/manifests/period=([^/]+)/manifest\.json$', 1), '') AS period,
    CASE WHEN period_start LIKE '%Z' THEN CAST(rtrim(period_start, 'Z') AS TIMESTAMP_NS)
         ELSE CAST(timezone('UTC', CAST(period_start AS TIMESTAMPTZ)) AS TIMESTAMP_NS) END AS period_start,
    CASE WHEN period_end LIKE '%Z' THEN CAST(rtrim(period_end, 'Z') AS TIMESTAMP_NS)
         ELSE CAST(timezone('UTC', CAST(period_end AS TIMESTAMPTZ)) AS TIMESTAMP_NS) END AS period_end,
    CASE WHEN cut_off LIKE '%Z' THEN CAST(rtrim(cut_off, 'Z') AS TIMESTAMP_NS)
         ELSE CAST(timezone('UTC', CAST(cut_off AS TIMESTAMPTZ)) AS TIMESTAMP_NS) END AS cut_off,
    price_version,
    filename AS manifest_file
FROM read_json(
    getvariable('output_dir') || '/manifests/*/manifest.json',
    columns = {
        run_id: 'VARCHAR',
        period_start: 'VARCHAR',
        period_end: 'VARCHAR',
        cut_off: 'VARCHAR',
        price_version: 'VARCHAR'
    },
    filename = true
)
