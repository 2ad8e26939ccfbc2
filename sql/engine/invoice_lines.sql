-- invoice_lines: sums of priced slices per tenant (NULL = unattributed), calendar month of the usage
-- date, family, meter and currency; the rounding to the currency's minor unit (half-even, once per
-- line) is done by reconcile._price.invoice_lines on these exact DECIMAL(38,12) sums.
-- Input: `slices` (the pricing stage's relation, or the slices/ Parquet output).
SELECT
    tenant_id,
    strftime(usage_date, '%Y-%m') AS month,
    family,
    meter,
    currency,
    sum(quantity) AS quantity,
    sum(billed_quantity) AS billed_quantity,
    sum(amount) AS amount_exact,                  -- exact sum of the slices' 12-digit amounts
    count(*) AS slice_rows
FROM slices
GROUP BY tenant_id, strftime(usage_date, '%Y-%m'), family, meter, currency
ORDER BY tenant_id NULLS FIRST, month, family, meter, currency
