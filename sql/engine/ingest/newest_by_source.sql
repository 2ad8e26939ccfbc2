-- newest_by_source: per ledger file, the latest event instant among the given events files
-- Parameter: files (events files of the store's layout, literal paths). Its source's freshness
-- (files.json newest_ns, sql/views/sources.sql) is the latest over its files.
SELECT source_file, max(emitted_ns) AS newest_ns
FROM read_parquet($files, hive_partitioning = false)
GROUP BY source_file
