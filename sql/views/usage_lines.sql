-- usage_lines: per tenant, month, currency, family and meter, the usage as the slices hold it now: quantities and the amount rounded once to the currency's minor unit, half-even
-- Inputs: slices, currencies (currency, minor_unit, minor_scale = 10^minor_unit, minor_step = 10^-minor_unit:
-- registered by reconcile from the ISO 4217 data). The line amount is the exact sum of its slices' amounts,
-- rounded once; invoice_total is the sum of the invoice's rounded lines, so it always equals them exactly.
-- DuckDB's round() goes half away from zero, so half-even is spelled out on the scaled amount.
-- The one definition of a usage line: reconcile.invoice_lines (and so the run's manifest totals) runs this file;
-- the analysts' invoice_lines is these lines for open months, the issued lines for closed ones, plus corrections.
WITH line AS (
    SELECT
        tenant_id,
        CAST(date_trunc('month', usage_date) AS DATE) AS invoice_month,
        currency,
        family,
        meter,
        count(*) AS slices,
        CAST(sum(quantity) AS DECIMAL(38, 12)) AS quantity,
        CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity,
        CAST(sum(amount) AS DECIMAL(38, 12)) AS amount_exact
    FROM slices
    GROUP BY tenant_id, CAST(date_trunc('month', usage_date) AS DATE), currency, family, meter
),
scaled AS (
    SELECT
        line.*,
        c.minor_unit,
        c.minor_step,
        -- the amount in minor units (cents), still with its fraction: DECIMAL * BIGINT stays DECIMAL(38, 12)
        CASE
            WHEN c.minor_scale IS NULL THEN error('invoice_lines: currency ' || coalesce(line.currency, 'NULL')
                || ' is not an ISO 4217 currency with minor units')
            ELSE line.amount_exact * c.minor_scale
        END AS minor_exact
    FROM line
    LEFT JOIN currencies AS c ON c.currency = line.currency
),
rounded AS (
    SELECT
        scaled.*,
        CAST(trunc(minor_exact) AS HUGEINT)
        + CASE
            WHEN abs(minor_exact - trunc(minor_exact)) > 0.5 THEN sign(minor_exact)
            WHEN abs(minor_exact - trunc(minor_exact)) = 0.5 AND CAST(trunc(minor_exact) AS HUGEINT) % 2 <> 0
                THEN sign(minor_exact)  -- a tie goes to the even neighbour
            ELSE 0
        END AS amount_minor
    FROM scaled
)
SELECT
    tenant_id,
    invoice_month,
    currency,
    family,
    meter,
    slices,
    quantity,
    billed_quantity,
    amount_exact,  -- the exact sum of the slices' amounts (12 fraction digits)
    minor_unit,
    CAST(amount_minor AS BIGINT) AS amount_minor,  -- the rounded amount in minor units (cents)
    CAST(CAST(amount_minor AS DECIMAL(38, 0)) * minor_step AS DECIMAL(38, 12)) AS amount,
    CAST(
        sum(CAST(amount_minor AS DECIMAL(38, 0)) * minor_step) OVER (
            PARTITION BY tenant_id, invoice_month, currency
        ) AS DECIMAL(38, 12)
    ) AS invoice_total
FROM rounded
ORDER BY invoice_month, tenant_id NULLS LAST, currency, family, meter
