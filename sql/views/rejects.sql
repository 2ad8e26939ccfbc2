-- rejects: ledger lines the store's ingests could not read (code, source_file, source_line, raw, ingest_id)
-- Input: variable reject_files, the list of reject files of the ingests the store has committed (reconcile
-- reads store.json for it, so files of a crashed ingest are never shown).
SELECT *
FROM read_parquet(getvariable('reject_files'), union_by_name = true, hive_partitioning = false)
