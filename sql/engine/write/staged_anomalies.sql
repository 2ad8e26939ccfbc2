-- staged_anomalies: the batch's anomalies of one period, as written to anomalies/period=<period>/
-- (before the committed rows a re-run keeps, kept_rows, are added; the file is sorted by at_ns, code,
-- family, resource_id, source_file, source_line).
-- Input: batch_anomalies (output_anomalies rows plus batch_period). Parameter: $period.
SELECT b.* EXCLUDE (batch_period)
FROM batch_anomalies AS b
WHERE b.batch_period = $period
