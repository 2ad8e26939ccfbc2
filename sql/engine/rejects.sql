-- rejects: the rejected lines of this ingest, in the store's `rejects` columns.
-- Input relations: ingest_lines (parsed_lines rows of every file read, pending lines removed) and
-- prescan_rejects (file_index, source_file, source_line, code, raw: lines the Python pre-scan of an
-- odd file classified, raw already cut and with invalid UTF-8 replaced). Variable: ingest_id.
-- raw keeps the first 4 KiB of the line: cut at byte 4096, backed off to a UTF-8 character boundary.
WITH sql_rejects AS (
    SELECT file_index, source_file, source_line, code, raw
    FROM ingest_lines
    WHERE code IS NOT NULL
),

cut AS (
    SELECT
        file_index,
        source_file,
        source_line,
        code,
        CASE
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
