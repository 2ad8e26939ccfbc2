-- runs: one row per period in the output folder, from its manifest.json: run_id, period bounds and cut-off
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- Instants are read from the manifests' RFC 3339 strings as TIMESTAMPTZ_NS (nanoseconds kept).
SELECT
    run_id,
    -- the period label, when the manifest sits under a period=... folder
    nullif(regexp_extract(filename, '/manifests/period=([^/]+)/manifest\.json$', 1), '') AS period,
    CAST(period_start AS TIMESTAMPTZ_NS) AS period_start,
    CAST(period_end AS TIMESTAMPTZ_NS) AS period_end,
    CAST(cut_off AS TIMESTAMPTZ_NS) AS cut_off,
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
