-- kept_rows: the committed rows of one output file a re-run keeps (_reuse): every row about a resource
-- outside the run's scope, under the new run_id.
-- Inputs: read_parquet($files) (the committed file), batch_scope (batch_period, family, resource_id:
-- the resources each reusing period recomputes).
-- Parameters: $files (the committed file, as a list), $period, $run_id.
SELECT k.* REPLACE (CAST($run_id AS VARCHAR) AS run_id)
FROM read_parquet($files, hive_partitioning = false) AS k
WHERE NOT EXISTS (
    SELECT 1 FROM batch_scope AS s
    WHERE s.batch_period = $period AND s.family = k.family AND s.resource_id = k.resource_id
)
