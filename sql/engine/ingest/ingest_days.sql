-- ingest_days: the UTC days (YYYY-MM-DD) the events this ingest read fall on: the store's events of
-- those days are the only ones it can duplicate (a duplicate has the same instant).
-- Input relation: ingest_lines.
SELECT DISTINCT strftime(make_timestamp_ns(emitted_ns), '%Y-%m-%d') AS day
FROM ingest_lines
WHERE code IS NULL
