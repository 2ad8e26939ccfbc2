-- repeated_events: the event ids this ingest read more than once, with their first occurrence, for
-- one part of the ids (a big ingest is de-duplicated part by part, so memory does not grow with it).
-- Input relation: ingest_lines (parsed_lines rows of every file read). Variables: dedupe_parts and
-- dedupe_part (this query covers the ids whose 64-bit hash is dedupe_part modulo dedupe_parts).
-- The ingest keeps the first occurrence in the order (file_index, source_line):
-- first_ord = file_index * 10^12 + source_line.
-- Grouping first by the 64-bit hash of event_id keeps the big aggregate small (8-byte keys; DuckDB
-- spills it past its memory limit); only ids whose hash repeats are then grouped exactly. Each id
-- keeps its instant (the same for every occurrence: it is hashed into the id), so the events of one
-- day join only that day's repeated ids.
WITH repeated_hashes AS (
    SELECT hash(event_id) AS h
    FROM ingest_lines
    WHERE code IS NULL
        AND hash(event_id) % getvariable('dedupe_parts') = getvariable('dedupe_part')
    GROUP BY h
    HAVING count(*) > 1
)

SELECT event_id, min(file_index * 1000000000000 + source_line) AS first_ord, min(emitted_ns) AS emitted_ns
FROM ingest_lines
WHERE code IS NULL AND hash(event_id) IN (SELECT h FROM repeated_hashes)
GROUP BY event_id
HAVING count(*) > 1
