-- diff_lines: per invoice month, tenant, currency, family and meter, the usage before and after between two versions of a period's bill
-- Inputs: before_lines, after_lines (usage_lines of each version). Only lines that differ.
SELECT
    coalesce(a.invoice_month, b.invoice_month) AS invoice_month,
    coalesce(a.tenant_id, b.tenant_id) AS tenant_id,
    coalesce(a.currency, b.currency) AS currency,
    coalesce(a.family, b.family) AS family,
    coalesce(a.meter, b.meter) AS meter,
    b.billed_quantity AS billed_quantity_before,
    a.billed_quantity AS billed_quantity_after,
    b.amount AS amount_before,
    a.amount AS amount_after,
    CAST(coalesce(a.amount, 0) - coalesce(b.amount, 0) AS DECIMAL(38, 12)) AS difference
FROM after_lines AS a
FULL OUTER JOIN before_lines AS b
    ON b.invoice_month = a.invoice_month
    AND b.tenant_id IS NOT DISTINCT FROM a.tenant_id
    AND b.currency = a.currency
    AND b.family = a.family
    AND b.meter = a.meter
WHERE a.amount IS DISTINCT FROM b.amount
   OR a.billed_quantity IS DISTINCT FROM b.billed_quantity
   OR a.quantity IS DISTINCT FROM b.quantity
ORDER BY invoice_month, tenant_id NULLS LAST, currency, family, meter
