-- invoice_lines: what each month's invoices bill, per tenant, currency, family and meter: usage, issued lines of closed months, corrections
-- Inputs: usage_lines (the usage as the slices hold it now), issued_lines and closes (closed months).
-- - An open month bills its usage lines (charge_class 'Usage') and the corrections of closed months
--   whose first open month it is (charge_class 'Correction', corrects_month the closed month).
-- - A closed month bills exactly its issued lines: what `reconcile close` froze, never recomputed.
-- - A correction is the closed month's usage now minus what was billed for it (its issued usage
--   lines and the corrections of it issued in later closed months), per tenant, currency, family and
--   meter: amounts in whole minor units (each side rounded once, as every line), quantities exact.
--   It appears while it is not zero, in the first month after the closed one that is not closed.
-- invoice_total is the sum of the invoice's lines (usage and corrections), so it always equals them.
WITH closed AS (
    SELECT invoice_month FROM closes
),
usage AS (
    SELECT *, 'Usage' AS charge_class, CAST(NULL AS DATE) AS corrects_month
    FROM usage_lines
    WHERE invoice_month NOT IN (SELECT invoice_month FROM closed)
),
billed AS (  -- what has been billed for each closed month so far
    SELECT
        coalesce(corrects_month, invoice_month) AS usage_month,
        tenant_id, currency, family, meter,
        max(minor_unit) AS minor_unit,
        CAST(sum(quantity) AS DECIMAL(38, 12)) AS quantity,
        CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity,
        CAST(sum(amount_exact) AS DECIMAL(38, 12)) AS amount_exact,
        sum(amount_minor) AS amount_minor
    FROM issued_lines
    GROUP BY ALL
),
truth AS (
    SELECT * FROM usage_lines WHERE invoice_month IN (SELECT invoice_month FROM closed)
),
difference AS (
    SELECT
        coalesce(t.invoice_month, b.usage_month) AS corrects_month,
        coalesce(t.tenant_id, b.tenant_id) AS tenant_id,
        coalesce(t.currency, b.currency) AS currency,
        coalesce(t.family, b.family) AS family,
        coalesce(t.meter, b.meter) AS meter,
        coalesce(t.minor_unit, b.minor_unit) AS minor_unit,
        CAST(coalesce(t.quantity, 0) - coalesce(b.quantity, 0) AS DECIMAL(38, 12)) AS quantity,
        CAST(coalesce(t.billed_quantity, 0) - coalesce(b.billed_quantity, 0) AS DECIMAL(38, 12))
            AS billed_quantity,
        CAST(coalesce(t.amount_exact, 0) - coalesce(b.amount_exact, 0) AS DECIMAL(38, 12)) AS amount_exact,
        CAST(coalesce(t.amount_minor, 0) - coalesce(b.amount_minor, 0) AS BIGINT) AS amount_minor
    FROM truth AS t
    FULL OUTER JOIN billed AS b
        ON b.usage_month = t.invoice_month
        AND b.tenant_id IS NOT DISTINCT FROM t.tenant_id
        AND b.currency = t.currency
        AND b.family = t.family
        AND b.meter = t.meter
),
open_after AS (  -- the first month after a closed one that is not closed: some closed month + 1
    SELECT c.invoice_month AS corrects_month, min(n.next_month) AS invoice_month
    FROM closed AS c
    JOIN (
        SELECT CAST(invoice_month + INTERVAL 1 MONTH AS DATE) AS next_month FROM closed
    ) AS n ON n.next_month > c.invoice_month
    WHERE n.next_month NOT IN (SELECT invoice_month FROM closed)
    GROUP BY c.invoice_month
),
corrections AS (
    SELECT
        d.tenant_id,
        o.invoice_month,
        d.currency,
        d.family,
        d.meter,
        CAST(NULL AS BIGINT) AS slices,
        d.quantity,
        d.billed_quantity,
        d.amount_exact,
        d.minor_unit,
        d.amount_minor,
        CAST(CAST(d.amount_minor AS DECIMAL(38, 0)) * c.minor_step AS DECIMAL(38, 12)) AS amount,
        'Correction' AS charge_class,
        d.corrects_month
    FROM difference AS d
    JOIN open_after AS o ON o.corrects_month = d.corrects_month
    LEFT JOIN currencies AS c ON c.currency = d.currency
    WHERE d.amount_minor <> 0 OR d.quantity <> 0 OR d.billed_quantity <> 0
),
lines AS (
    SELECT tenant_id, invoice_month, currency, family, meter, slices, quantity, billed_quantity,
        amount_exact, minor_unit, amount_minor, amount, charge_class, corrects_month
    FROM usage
    UNION ALL
    SELECT tenant_id, invoice_month, currency, family, meter, slices, quantity, billed_quantity,
        amount_exact, minor_unit, amount_minor, amount, charge_class, corrects_month
    FROM corrections
    UNION ALL
    SELECT tenant_id, invoice_month, currency, family, meter, slices, quantity, billed_quantity,
        amount_exact, minor_unit, amount_minor, amount, charge_class, corrects_month
    FROM issued_lines
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
    amount_exact,
    minor_unit,
    amount_minor,
    amount,
    CAST(
        sum(amount) OVER (PARTITION BY tenant_id, invoice_month, currency) AS DECIMAL(38, 12)
    ) AS invoice_total,
    charge_class,  -- 'Usage', or 'Correction' of an already invoiced (closed) month
    corrects_month  -- the closed month a correction corrects (NULL for usage)
FROM lines
ORDER BY invoice_month, tenant_id NULLS LAST, currency, charge_class DESC, corrects_month, family, meter
