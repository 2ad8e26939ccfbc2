-- div_half_even: a macro, not a relation: n / d rounded half to even, exactly, for integers n >= 0
-- (HUGEINT) and 0 < d < 2^62; and mul_div_half_even, the same for q * p / d where q * p may be
-- beyond HUGEINT. Money is rounded here on exact integers because DuckDB's DECIMAL casts
-- and round() round half away from zero.
-- HUGEINT division is slow in DuckDB (about 0.3 us a row), so the quotient is first estimated in
-- DOUBLE (q0) and corrected exactly: r0 = n - q0 * d is computed in HUGEINT (exact), and when it fits
-- BIGINT (always, unless the quotient is beyond ~10^24) the floor quotient and remainder follow from
-- BIGINT arithmetic; otherwise the plain HUGEINT division is used. Either way the result is exact.

-- q rounded up when the remainder r (0 <= r < d) is above half of d, or exactly half and q is odd
CREATE OR REPLACE TEMP MACRO div_half_even_round(q, r, d) AS
    q + CASE WHEN 2 * r > d OR (2 * r = d AND (q & 1) = 1) THEN 1 ELSE 0 END;

-- from an estimate q0 and r0 = n - q0 * d (BIGINT, any sign): floor quotient and remainder, rounded
CREATE OR REPLACE TEMP MACRO div_half_even_fix(q0, r0, d) AS
    div_half_even_round(q0 + (r0 - ((r0 % d) + d) % d) // d, ((r0 % d) + d) % d, d);

-- the DOUBLE estimate of floor(n / d)
CREATE OR REPLACE TEMP MACRO div_half_even_q0(n, d) AS
    CAST(floor(CAST(n AS DOUBLE) / CAST(d AS DOUBLE)) AS HUGEINT);

CREATE OR REPLACE TEMP MACRO div_half_even(n, d) AS
    CASE WHEN abs(n - div_half_even_q0(n, d) * d) < 4611686018427387904
         THEN div_half_even_fix(
             div_half_even_q0(n, d), CAST(n - div_half_even_q0(n, d) * d AS BIGINT), CAST(d AS BIGINT))
         ELSE div_half_even_round(n // d, CAST(n % d AS BIGINT), CAST(d AS BIGINT)) END;

-- q * p / d rounded half to even, exactly, for integers q, p >= 0 and 0 < d < 2^62 (HUGEINT), where
-- q * p may be beyond HUGEINT: when q or p reaches 2^63 both are split by d, q = qh * d + ql and
-- p = ph * d + pl, so q * p / d = qh * p + ql * ph + ql * pl / d, where only the last term has a
-- fraction (ql * pl < d^2 < 2^124); every term stays within HUGEINT while the result does.
CREATE OR REPLACE TEMP MACRO mul_div_half_even(q, p, d) AS
    CASE WHEN q < CAST(9223372036854775807 AS HUGEINT) AND p < CAST(9223372036854775807 AS HUGEINT)
         THEN div_half_even(q * p, d)
         ELSE div_half_even_round(
             (q // d) * p + (q % d) * (p // d) + ((q % d) * (p % d)) // d,
             ((q % d) * (p % d)) % d,
             d)
    END;
