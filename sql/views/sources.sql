-- sources: per ledger source (a ledger file and its rotations), its newest event and when it last grew
-- Input: variable files_json (the store's files.json, a literal path; NULL: no store given).
-- A source is a file's path with its rotation suffixes taken off: compression (.gz .bz2 .xz .zst),
-- a rotation number (.1), a logrotate dateext date (-2026-11-01 or -20261101, before the extension
-- or at the end): host-a/ledger.jsonl.2.gz and host-a/ledger-2026-11-01.log.gz are the sources
-- host-a/ledger.jsonl and host-a/ledger.log. newest_at: the latest instant of the events the store
-- took from it; grew_at: when an ingest last found one of its files longer (both NULL for files
-- recorded before freshness was kept, until they grow).
WITH files AS (
    SELECT unnest(map_keys(files)) AS file, files[file] AS state
    FROM read_json(
        getvariable('files_json'),
        columns = {files: 'MAP(VARCHAR, STRUCT(bytes BIGINT, lines BIGINT, newest_ns BIGINT, grew_at VARCHAR))'}
    )
),
named AS (
    SELECT
        regexp_replace(
            regexp_replace(
                regexp_replace(file, '\.(gz|bz2|xz|zst|zstd)$', ''),
                '\.[0-9]+$', ''
            ),
            '-[0-9]{4}-?[0-9]{2}-?[0-9]{2}(\.[A-Za-z0-9]+)?$', '\1'
        ) AS source,
        file,
        state.bytes AS bytes,
        state.lines AS lines,
        state.newest_ns AS newest_ns,
        CAST(state.grew_at AS TIMESTAMPTZ_NS) AS grew_at
    FROM files
)
SELECT
    source,
    count(*) AS files,
    CAST(sum(lines) AS BIGINT) AS lines,
    CAST(sum(bytes) AS BIGINT) AS bytes,
    max(newest_ns) AS newest_ns,
    timezone('UTC', make_timestamp_ns(max(newest_ns))) AS newest_at,
    max(grew_at) AS grew_at,
    arg_max(file, newest_ns) AS newest_file
FROM named
GROUP BY source
ORDER BY source
