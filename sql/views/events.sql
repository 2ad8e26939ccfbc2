-- events: the store's accepted ledger events (one row per de-duplicated line), for an anomaly's event history
-- Input: variable event_files, the events files of the ingests the store has committed (reconcile reads
-- store.json for it). Columns as docs/ARCHITECTURE.md's events table: family, endpoint, resource_id, kind,
-- reason, hypervisor, shape (cpu, mem_bytes, storage_bytes), emitted_at (UTC, ns), source_file, source_line.
-- emitted_at is made from emitted_ns (TIMESTAMPTZ_NS, UTC), so events files written before instants
-- carried their zone (naive TIMESTAMP_NS) read the same.
SELECT * REPLACE (timezone('UTC', make_timestamp_ns(emitted_ns)) AS emitted_at)
FROM read_parquet(getvariable('event_files'), union_by_name = true, hive_partitioning = false)
