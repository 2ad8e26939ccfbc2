-- div_half_even: a macro, not a relation: n / d rounded half to even, for integers n >= 0, d > 0
-- (HUGEINT). Money is rounded here on exact integers because DuckDB's DECIMAL casts and round()
-- round half away from zero.
CREATE OR REPLACE TEMP MACRO div_half_even(n, d) AS
    n // d + CASE WHEN 2 * (n % d) > d OR (2 * (n % d) = d AND (n // d) % 2 = 1) THEN 1 ELSE 0 END
