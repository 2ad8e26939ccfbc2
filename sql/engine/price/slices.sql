-- slices: the priced slices of the periods priced together, one row per slice and meter (SPEC section
-- 5 columns, without run_id, which the writer adds), plus hypervisor, slice_start_ns, slice_end_ns,
-- billed_seconds, price_entry and price_period.
-- Inputs: `slice_spans`, `prices`, `meters` (reconcile._core._families). Variables: price_currency,
-- price_book_version. Needs the macros of div_half_even.sql (quantity_half_even, amount_half_even:
-- BIGINT where it holds, else HUGEINT).
-- Money is integer arithmetic on values scaled by 10^12 (`*_e12`, HUGEINT), each rounded half-even
-- once, then turned into DECIMAL(38,12) by a multiplication that keeps the DECIMAL type (a DECIMAL
-- division would give DOUBLE).
WITH reduced_prices AS (
    -- per price entry (a few rows): the amount's divisor, and the price and divisor divided by their
    -- greatest common divisor when both then fit BIGINT (amount_half_even's cheap path)
    SELECT
        *,
        CASE WHEN unit_price_e12 // g < 4611686018427387904 AND amount_divisor // g < 4611686018427387904
             THEN CAST(unit_price_e12 // g AS BIGINT) END AS price_small,
        CASE WHEN unit_price_e12 // g < 4611686018427387904 AND amount_divisor // g < 4611686018427387904
             THEN CAST(amount_divisor // g AS BIGINT) END AS divisor_small
    FROM (
        SELECT *, greatest(gcd(unit_price_e12, amount_divisor), 1) AS g
        FROM (
            SELECT
                p.* REPLACE (CAST(p.unit_price_e12 AS HUGEINT) AS unit_price_e12),
                CAST(1000000000000 AS HUGEINT) * coalesce(p.hours_per_month, 1) AS amount_divisor
            FROM prices AS p
        ) AS scaled
    ) AS divided
),
metered AS (
    -- one row per slice and meter of its family (SPEC section 4; the relation `meters`, registered from
    -- reconcile._core._families): quantity = factor * seconds / 3600 / unit_bytes, where factor is the
    -- interval's shape column the meter reads
    SELECT
        s.*,
        m.meter,
        CASE m.shape
            WHEN 'cpu' THEN s.cpu
            WHEN 'mem_bytes' THEN s.mem_bytes
            WHEN 'storage_bytes' THEN s.storage_bytes
        END AS factor,
        m.unit_bytes
    FROM slice_spans AS s
    JOIN meters AS m ON m.family = s.family
),
chosen AS (
    -- the price at the slice's instant at_ns (its start; the interval's last instant for the zero-length
    -- slice of an interval ending on a midnight): the hypervisor's override if one holds, else the default
    SELECT m.*, coalesce(o.entry, d.entry) AS price_entry
    FROM metered AS m
    LEFT JOIN prices AS o
      ON o.family = m.family AND o.meter = m.meter AND o.hypervisor = m.hypervisor
     AND o.effective_from_ns <= m.at_ns
     AND (o.effective_to_ns IS NULL OR m.at_ns < o.effective_to_ns)
    LEFT JOIN prices AS d
      ON d.family = m.family AND d.meter = m.meter AND d.hypervisor IS NULL
     AND d.effective_from_ns <= m.at_ns
     AND (d.effective_to_ns IS NULL OR m.at_ns < d.effective_to_ns)
),
quantities AS (
    -- hours scaled by 10^12: factor * ns / 1e9 / 3600 / unit_bytes * 1e12 = factor * ns * 5 / (18 * unit_bytes)
    SELECT
        c.*,
        p.unit AS price_unit,
        p.unit_price,
        p.hours_per_month,
        quantity_half_even(c.factor, c.seconds_ns, c.unit_bytes) AS quantity_e12,
        quantity_half_even(c.factor, c.billed_ns, c.unit_bytes) AS billed_quantity_e12,
        p.unit_price_e12,
        p.amount_divisor,
        p.price_small,
        p.divisor_small
    FROM chosen AS c
    LEFT JOIN reduced_prices AS p ON p.entry = c.price_entry
),
amounts AS (
    -- amount = billed_quantity * unit_price [/ hours_per_month], from the rounded billed quantity
    -- (mul_div_half_even: exact even where the product is beyond HUGEINT, e.g. a shape near int64
    -- max or a price near the book's 10^14 limit)
    SELECT
        *,
        amount_half_even(billed_quantity_e12, unit_price_e12, amount_divisor, price_small, divisor_small)
            AS amount_e12
    FROM quantities
)
SELECT
    interval_id,
    family,
    resource_id,
    tenant_id,
    DATE '1970-01-01' + CAST(slice_start_ns // getvariable('price_ns_per_day') AS INTEGER) AS usage_date,  -- UTC day
    timezone('UTC', make_timestamp_ns(slice_start_ns)) AS slice_start,  -- TIMESTAMPTZ_NS (UTC)
    timezone('UTC', make_timestamp_ns(slice_end_ns)) AS slice_end,
    CAST(seconds_ns AS DECIMAL(18, 0)) * CAST(0.000000001 AS DECIMAL(10, 9)) AS seconds,  -- consumed
    meter,
    CAST(quantity_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS quantity,
    CAST(billed_quantity_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS billed_quantity,
    unit_price,
    price_unit,
    hours_per_month,                               -- NULL unless price_unit is monthly
    CAST(amount_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS amount,
    getvariable('price_currency') AS currency,
    getvariable('price_book_version') AS price_version,
    status,
    hypervisor,
    slice_start_ns,
    slice_end_ns,
    CAST(billed_ns AS DECIMAL(18, 0)) * CAST(0.000000001 AS DECIMAL(10, 9)) AS billed_seconds,
    price_entry,                                   -- the [[price]] entry applied (1-based)
    price_period                                   -- the period priced (Pricer.add)
FROM amounts
