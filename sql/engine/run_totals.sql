-- run_totals: the amount of a run's slices per family and currency, exact (12 fraction digits).
-- Input: `slices` (pricing). Summing DECIMAL(38,12) stays DECIMAL(38,12); rounding to the currency's
-- minor unit happens once, on the currency total, in Python.
SELECT
    family,
    currency,
    CAST(sum(amount) AS DECIMAL(38, 12)) AS amount
FROM slices
GROUP BY family, currency
ORDER BY family, currency
