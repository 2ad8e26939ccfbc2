-- anomaly_details: every anomaly with the interval it names (latest status, start, end, hypervisor), its tenants and the amount billed on it
-- Inputs: anomalies, intervals, slices. day is the UTC date of the anomaly's event; an anomaly seen by more
-- than one run counts once, with the detail of the latest run (a stale_open's age grows run by run).
-- interval_status is the interval's status in the latest period holding it
-- ('inferred' when the engine guessed its end); interval_amount sums all its slices (NULL when it names no
-- billed interval: orphan and double stops, dropped intervals).
WITH anomaly AS (
    SELECT code, family, resource_id, "at", source_file, source_line, interval_id, arg_max(detail, period) AS detail
    FROM anomalies
    GROUP BY code, family, resource_id, "at", source_file, source_line, interval_id
),
latest AS (
    SELECT
        interval_id,
        arg_max(status, period) AS interval_status,
        arg_max(start_at, period) AS start_at,
        arg_max(end_at, period) AS end_at,
        min(hypervisor) AS hypervisor
    FROM intervals
    GROUP BY interval_id
),
billed AS (
    SELECT
        interval_id,
        currency,
        string_agg(DISTINCT tenant_id, ',' ORDER BY tenant_id) AS tenants,
        CAST(sum(amount) AS DECIMAL(38, 12)) AS interval_amount
    FROM slices
    GROUP BY interval_id, currency
)
SELECT
    CAST(a."at" AS DATE) AS day,
    a.code,
    a.family,
    a.resource_id,
    a."at",
    a.source_file,
    a.source_line,
    a.detail,
    a.interval_id,
    l.interval_status,
    l.start_at,
    l.end_at,
    l.hypervisor,
    b.tenants,
    b.currency,
    b.interval_amount
FROM anomaly AS a
LEFT JOIN latest AS l ON l.interval_id = a.interval_id
LEFT JOIN billed AS b ON b.interval_id = a.interval_id
ORDER BY a."at", a.code, a.resource_id, a.source_file, a.source_line
