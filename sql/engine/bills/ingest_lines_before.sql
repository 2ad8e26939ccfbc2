-- ingest_lines_before: per ingest, how many of its events lie before an instant, and the first few as file:line
-- Parameters: files (the events files of the ingests asked about, literal paths), the instant (Unix ns)
-- and how many examples to keep. Used to say why a restated period changed.
SELECT
    ingest_id,
    count(*) AS lines,
    list(source_file || ':' || CAST(source_line AS VARCHAR) ORDER BY source_file, source_line)[1:$examples]
        AS first
FROM read_parquet($files, hive_partitioning = false)
WHERE emitted_ns < $before_ns
GROUP BY ingest_id
ORDER BY ingest_id
