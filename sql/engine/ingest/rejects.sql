-- rejects: the rejected lines of this ingest, in the store's `rejects` columns.
-- Input relations: ingest_lines (parsed_lines rows of every file read, pending lines removed),
-- prescan_rejects (file_index, source_file, source_line, code, raw: lines the Python pre-scan of an
-- odd file classified, raw already cut and with invalid UTF-8 replaced) and original_lines
-- (file_index, source_line, raw: the original text, already cut, of lines the pre-scan rewrote so
-- that DuckDB reads them as Go does). Variable: ingest_id.
-- raw keeps the first 4 KiB of the line: cut at byte 4096, backed off to a UTF-8 character boundary.
WITH sql_rejects AS (
    SELECT l.file_index, l.source_file, l.source_line, l.code, l.raw, o.raw AS original_raw
    FROM ingest_lines AS l
    LEFT JOIN original_lines AS o ON o.file_index = l.file_index AND o.source_line = l.source_line
    WHERE l.code IS NOT NULL
),

cut AS (
    SELECT
        file_index,
        source_file,
        source_line,
        code,
        CASE
            WHEN original_raw IS NOT NULL THEN original_raw  -- a rewritten line: as it was written
            WHEN strlen(raw) <= 4096 THEN raw
            -- byte 4097 starts a character: cut before it; else back off over continuation bytes
            WHEN NOT (encode(raw)[4097:4097] BETWEEN '\x80'::BLOB AND '\xBF'::BLOB)
                THEN decode(encode(raw)[1:4096])
            WHEN NOT (encode(raw)[4096:4096] BETWEEN '\x80'::BLOB AND '\xBF'::BLOB)
                THEN decode(encode(raw)[1:4095])
            WHEN NOT (encode(raw)[4095:4095] BETWEEN '\x80'::BLOB AND '\xBF'::BLOB)
                THEN decode(encode(raw)[1:4094])
            ELSE decode(encode(raw)[1:4093])
        END AS raw
    FROM sql_rejects
)

SELECT code, source_file, source_line, raw, getvariable('ingest_id') AS ingest_id, file_index
FROM (
    SELECT * FROM cut
    UNION ALL
    SELECT file_index, source_file, source_line, code, raw FROM prescan_rejects
)
