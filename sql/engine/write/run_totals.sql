-- run_totals: the amount of a run's slices per family and currency, and per currency (family NULL),
-- exact (12 fraction digits).
-- Input: `run_slices` (a period's written slices: _figures). Summing DECIMAL(38,12) stays
-- DECIMAL(38,12), exact, in SQL (Python's default
-- decimal context would round a sum to 28 digits). The invoice totals (rounded to the currency's minor
-- unit, once per invoice line) come from the invoice lines, not from here.
SELECT
    family,                                   -- NULL: every family of the currency
    currency,
    CAST(sum(amount) AS DECIMAL(38, 12)) AS amount
FROM run_slices
GROUP BY GROUPING SETS ((family, currency), (currency))
ORDER BY family NULLS FIRST, currency
