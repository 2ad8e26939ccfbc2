-- run_totals: the amount of each period's slices per family and currency, and per currency (family
-- NULL), exact (12 fraction digits).
-- Input: `run_slice_sums` (slice_sums.sql of the periods counted together, run_period their index: _figures).
-- Summing DECIMAL(38,12) stays DECIMAL(38,12), exact, in SQL (Python's default decimal context would
-- round a sum to 28 digits). The invoice totals (rounded to the currency's minor
-- unit, once per invoice line) come from the invoice lines, not from here.
SELECT
    run_period,
    family,                                   -- NULL: every family of the currency
    currency,
    CAST(sum(amount) AS DECIMAL(38, 12)) AS amount
FROM run_slice_sums
GROUP BY GROUPING SETS ((run_period, family, currency), (run_period, currency))
ORDER BY run_period, family NULLS FIRST, currency
