-- ingest_lines: the parsed lines (`parsed_lines` rows) of every file this ingest read, numbered with
-- their files' own line numbers.
-- Inputs: relations parsed_plain, parsed_gapped and parsed_bundled (the rows the parse inserted into
-- its scratch tables, with their rowid as row_number, of the sources that are one file each, read
-- whole or copied, of the sanitised copies that left lines out, and of the bundles of small files'
-- lines: one table each), line_sources (source_index, file_index, source_file, line_offset,
-- first_row, last_line: per source of one file, the file, its lines before what was read, the
-- row_number of the source's first row, and the file's last complete line the Python pass
-- counted), line_bundles (source_index, bucket_rows) and line_members (source_index, bucket,
-- first_row, rows, and the file's columns as in line_sources: each file of a bundle under every
-- bucket of bucket_rows rows it overlaps; first_row is its first row_number) and line_gaps
-- (file_index, rows_before, skipped: in such a copy, after its first rows_before rows, `skipped`
-- lines in all had been left out: the lines the Python pre-scan classified itself).
-- A batch parsed by one ordered query has no source_row in its rows: they are in source order, and
-- in line order within a source, so a row's place in its source is its row_number less its
-- source's first (a two-step parse numbered the rows of its source itself). Its
-- line is that place after the lines read before (line_offset) plus the lines the copy left out
-- before it. Lines after the last complete line the Python pass counted (a torn tail, or lines
-- appended while DuckDB read) are dropped here, and so are the rows of a source not in
-- line_sources (a file replaced while it was read). The columns that follow from others (family,
-- endpoint, resource_id) are added here, so the scratch files need not hold them.
WITH plain AS (
    SELECT
        p.* EXCLUDE (source_index, source_row, row_number),
        s.file_index,
        s.source_file,
        s.line_offset,
        s.last_line,
        coalesce(p.source_row, p.row_number - s.first_row) AS copy_row  -- from 0
    FROM parsed_plain AS p
    JOIN line_sources AS s ON s.source_index = p.source_index
),

gapped AS (
    SELECT
        p.* EXCLUDE (source_index, source_row, row_number),
        s.file_index,
        s.source_file,
        s.line_offset,
        s.last_line,
        coalesce(p.source_row, p.row_number - s.first_row) AS copy_row
    FROM parsed_gapped AS p
    JOIN line_sources AS s ON s.source_index = p.source_index
),

bundled AS (
    SELECT
        p.* EXCLUDE (source_index, source_row, row_number, bucket),
        m.file_index,
        m.source_file,
        m.line_offset,
        m.last_line,
        p.row_number - m.first_row AS copy_row
    FROM (
        SELECT q.*, q.row_number // b.bucket_rows AS bucket
        FROM parsed_bundled AS q
        JOIN line_bundles AS b ON b.source_index = q.source_index
    ) AS p
    JOIN line_members AS m
        ON m.source_index = p.source_index AND m.bucket = p.bucket
        AND p.row_number >= m.first_row AND p.row_number < m.first_row + m.rows
),

numbered AS (
    SELECT *, line_offset + copy_row + 1 AS source_line
    FROM plain
    UNION ALL
    SELECT *, line_offset + copy_row + 1 AS source_line
    FROM bundled
    UNION ALL
    -- (only the copies that left lines out: an ASOF join sorts its input)
    SELECT p.*, p.line_offset + p.copy_row + 1 + coalesce(g.skipped, 0) AS source_line
    FROM gapped AS p
    ASOF LEFT JOIN line_gaps AS g ON g.file_index = p.file_index AND p.copy_row >= g.rows_before
)

SELECT
    * EXCLUDE (line_offset, copy_row, last_line),
    CASE WHEN code IS NULL THEN
        CASE WHEN starts_with(kind, 'vm.compute.') THEN 'vm.compute'
            WHEN starts_with(kind, 'vm.storage.') THEN 'vm.storage'
            ELSE 'snap.storage' END
    END AS family,
    CASE WHEN code IS NULL THEN
        CASE WHEN ends_with(kind, '.start') THEN 'start' ELSE 'stop' END
    END AS endpoint,
    CASE WHEN code IS NULL THEN
        CASE WHEN starts_with(kind, 'vm.') THEN vm_id ELSE snapshot_id END
    END AS resource_id
FROM numbered
WHERE source_line <= last_line
