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

-- The same roundings in BIGINT where the operands hold it (the common case: HUGEINT arithmetic costs
-- several times BIGINT's; on a 10M-event month's 31M slices it was most of the pricing). Each picks
-- the BIGINT path only where no intermediate value can overflow, and gives exactly the HUGEINT
-- path's result otherwise (CASE evaluates a branch only on the rows that take it).

-- n / d rounded half to even for BIGINT n >= 0 and d > 0
CREATE OR REPLACE TEMP MACRO div_half_even_small(n, d) AS
    div_half_even_round(n // d, n % d, d);

-- factor * ns * 5 / (18 * unit_bytes), rounded half-even (a meter's hours scaled by 10^12): in
-- BIGINT when unit_bytes divides factor (shapes are whole GiB, vCPUs whole) and
-- (factor / unit_bytes) * ns * 5 fits: the same fraction, so the same rounding
CREATE OR REPLACE TEMP MACRO quantity_half_even(factor, ns, unit_bytes) AS
    CASE WHEN factor >= 0 AND ns >= 0 AND ns < 1000000000000000000 AND factor % unit_bytes = 0
              AND factor // unit_bytes
                  <= 9223372036854775807 // (least(greatest(ns, 0), 999999999999999999) * 5 + 1)
         THEN CAST(div_half_even_small(factor // unit_bytes * ns * 5, 18) AS HUGEINT)
         ELSE div_half_even(CAST(factor AS HUGEINT) * ns * 5, 18 * CAST(unit_bytes AS HUGEINT)) END;

-- q * p / d rounded half-even (mul_div_half_even), given p_small = p / gcd(p, d) and
-- d_small = d / gcd(p, d) when both fit BIGINT (else NULL): q * p_small / d_small is the same
-- fraction, in BIGINT when the product fits (a price's 10^12-scaled integer mostly ends in zeros)
CREATE OR REPLACE TEMP MACRO amount_half_even(q, p, d, p_small, d_small) AS
    CASE WHEN p_small IS NOT NULL AND d_small IS NOT NULL AND q >= 0
              AND q <= 9223372036854775807 // greatest(p_small, 1)
         THEN CAST(div_half_even_small(CAST(q AS BIGINT) * p_small, d_small) AS HUGEINT)
         ELSE mul_div_half_even(q, p, d) END;
