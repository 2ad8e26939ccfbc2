-- anomaly_summary: per day and anomaly code: anomalies, resources and intervals affected, and the amounts billed on those intervals (all, and the inferred ones)
-- Inputs: anomalies, intervals, slices. day is the UTC date of the anomaly's event. An anomaly seen by more than
-- one run (same code, resource, instant and source line) counts once. amount_affected sums every slice of the
-- intervals the anomalies name; amount_inferred only those whose latest status is 'inferred' (an end the
-- engine guessed). currency is NULL on rows whose anomalies name no billed interval (orphan or double stops).
WITH anomaly AS (
    SELECT DISTINCT code, family, resource_id, "at", source_file, source_line, interval_id
    FROM anomalies
),
latest_status AS (
    SELECT interval_id, arg_max(status, period) AS status
    FROM intervals
    GROUP BY interval_id
),
interval_amount AS (
    SELECT s.interval_id, s.currency, CAST(sum(s.amount) AS DECIMAL(38, 12)) AS amount
    FROM slices AS s
    GROUP BY s.interval_id, s.currency
),
counts AS (
    SELECT
        CAST("at" AS DATE) AS day,
        code,
        count(*) AS anomalies,
        count(DISTINCT resource_id) AS resources,
        count(DISTINCT interval_id) AS intervals
    FROM anomaly
    GROUP BY CAST("at" AS DATE), code
),
affected AS (
    SELECT DISTINCT CAST("at" AS DATE) AS day, code, interval_id
    FROM anomaly
    WHERE interval_id IS NOT NULL
),
amounts AS (
    SELECT
        a.day,
        a.code,
        ia.currency,
        CAST(sum(ia.amount) AS DECIMAL(38, 12)) AS amount_affected,
        CAST(sum(CASE WHEN ls.status = 'inferred' THEN ia.amount ELSE CAST(0 AS DECIMAL(38, 12)) END)
            AS DECIMAL(38, 12)) AS amount_inferred
    FROM affected AS a
    JOIN interval_amount AS ia ON ia.interval_id = a.interval_id
    LEFT JOIN latest_status AS ls ON ls.interval_id = a.interval_id
    GROUP BY a.day, a.code, ia.currency
)
SELECT
    c.day,
    c.code,
    c.anomalies,
    c.resources,
    c.intervals,
    m.currency,
    coalesce(m.amount_affected, CAST(0 AS DECIMAL(38, 12))) AS amount_affected,
    coalesce(m.amount_inferred, CAST(0 AS DECIMAL(38, 12))) AS amount_inferred
FROM counts AS c
LEFT JOIN amounts AS m ON m.day = c.day AND m.code = c.code
ORDER BY c.day, c.code, m.currency
