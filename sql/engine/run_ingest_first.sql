-- run_ingest_first: per ingest, the instant of its earliest event.
-- Input: the store's `events`. An ingest holds events before a cut-off exactly when first_ns < cut-off,
-- which is how a run names the ingests it read (part of run_id).
-- first_ns: Unix nanoseconds of the ingest's earliest event.
SELECT
    ingest_id,
    min(emitted_ns) AS first_ns
FROM events
GROUP BY ingest_id
ORDER BY ingest_id
