-- ingest_days: the UTC days the events this ingest read fall on, as day numbers since 1970-01-01:
-- the store's events of those days are the only ones it can duplicate (a duplicate has the same
-- instant), and its events are written day by day.
-- Input relation: ingest_lines.
SELECT DISTINCT emitted_ns // 86400000000000 AS day_number
FROM ingest_lines
WHERE code IS NULL
ORDER BY day_number
