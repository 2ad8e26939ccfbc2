-- open_intervals: intervals still open as of the latest run (the latest period in the output folder), with their age at its cut-off and the amount billed on them so far
-- Inputs: intervals, runs, slices. open_seconds is whole seconds from start_at to the run's cut-off (NULL when
-- the period has no manifest). amount_so_far sums every slice of the interval in the folder, per currency.
WITH latest AS (
    SELECT max(period) AS period FROM intervals
),
billed AS (
    SELECT interval_id, currency, CAST(sum(amount) AS DECIMAL(38, 12)) AS amount_so_far
    FROM slices
    GROUP BY interval_id, currency
)
SELECT
    i.interval_id,
    i.family,
    i.resource_id,
    i.vm_id,
    i.snapshot_id,
    i.hypervisor,
    i.cpu,
    i.mem_bytes,
    i.storage_bytes,
    i.start_at,
    i.start_reason,
    i.start_source,
    i.period,
    i.run_id,
    r.cut_off,
    (epoch_ns(r.cut_off) - epoch_ns(i.start_at)) // 1000000000 AS open_seconds,
    b.currency,
    b.amount_so_far
FROM intervals AS i
JOIN latest ON latest.period = i.period
LEFT JOIN runs AS r ON r.run_id = i.run_id
LEFT JOIN billed AS b ON b.interval_id = i.interval_id
WHERE i.status = 'open'
ORDER BY i.start_at, i.family, i.resource_id
