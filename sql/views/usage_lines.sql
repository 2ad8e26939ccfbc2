-- usage_lines: per tenant, month, currency, family and meter, the usage as the slices hold it now: quantities, the billed and the list amounts rounded once to the currency's minor unit, half-even, and the contracts that priced it
-- Inputs: slices, currencies (currency, minor_unit, minor_scale = 10^minor_unit, minor_step = 10^-minor_unit:
-- registered by reconcile from the ISO 4217 data). The line amount is the exact sum of its slices' amounts,
-- rounded once; invoice_total is the sum of the invoice's rounded lines, so it always equals them exactly.
-- DuckDB's round() goes half away from zero, so half-even is spelled out on the scaled amount.
-- Contracts (docs/SPEC.md, "Contracts"): slices priced with a contracts file carry list_amount, contract_id,
-- price_basis and, on a tiered meter, contract_tiers (its contract's tiers); slices priced without one carry
-- none of these (read as NULL here: the list is what was charged). A tiered meter's slices carry the first
-- tier's price; their line bills instead the month's billed quantity of those slices split into the tiers,
-- each part times its tier's price: the line's exact amount is the other slices' amounts plus that, computed
-- in exact integers of 10^-24 and rounded half-even once to 12 digits (amount_exact) and once to the minor
-- unit (amount_minor). tier_adjustment is that amount less the sum of the slices' amounts.
-- The one definition of a usage line: reconcile.invoice_lines (and so the run's manifest totals) runs this file;
-- the analysts' invoice_lines is these lines for open months, the issued lines for closed ones, plus corrections.
WITH charged AS (
    SELECT * FROM slices
    UNION ALL BY NAME
    SELECT
        CAST(NULL AS DECIMAL(38, 12)) AS list_amount,
        CAST(NULL AS VARCHAR) AS contract_id,
        CAST(NULL AS VARCHAR) AS price_basis,
        CAST(NULL AS STRUCT(tier INTEGER, lower DECIMAL(38, 12), up_to DECIMAL(38, 12), unit_price DECIMAL(38, 12))[])
            AS contract_tiers
    WHERE false
),
line AS (
    SELECT
        tenant_id,
        CAST(date_trunc('month', usage_date) AS DATE) AS invoice_month,
        currency,
        family,
        meter,
        count(*) AS slices,
        CAST(sum(quantity) AS DECIMAL(38, 12)) AS quantity,
        CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity,
        CAST(sum(amount) AS DECIMAL(38, 12)) AS amount_exact,
        CAST(sum(coalesce(list_amount, amount)) AS DECIMAL(38, 12)) AS list_amount_exact,
        CAST(coalesce(sum(amount) FILTER (WHERE price_basis = 'tier'), 0) AS DECIMAL(38, 12)) AS tier_slices_amount,
        string_agg(DISTINCT contract_id, ' ' ORDER BY contract_id) AS contract_ids,
        string_agg(DISTINCT price_basis, ' ' ORDER BY price_basis) AS price_bases
    FROM charged
    GROUP BY tenant_id, CAST(date_trunc('month', usage_date) AS DATE), currency, family, meter
),
tier_quantities AS (
    -- per line and contract, the billed quantity its tiers charge (a contract's tiers of a meter are
    -- the same on each of its slices)
    SELECT
        tenant_id,
        CAST(date_trunc('month', usage_date) AS DATE) AS invoice_month,
        currency,
        family,
        meter,
        contract_id,
        any_value(contract_tiers) AS tiers,
        CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS tier_quantity
    FROM charged
    WHERE price_basis = 'tier'
    GROUP BY tenant_id, CAST(date_trunc('month', usage_date) AS DATE), currency, family, meter, contract_id
),
tier_parts AS (
    -- each tier's part of the quantity (above its lower bound, up to its up_to) times its price:
    -- exact integers of 10^-24 (10^-12 quantity times 10^-12 price)
    SELECT
        q.tenant_id, q.invoice_month, q.currency, q.family, q.meter,
        CAST(greatest(
            CAST(0 AS DECIMAL(38, 12)),
            least(q.tier_quantity, coalesce(u.t.up_to, q.tier_quantity)) - u.t.lower
        ) * CAST(1000000000000 AS DECIMAL(13, 0)) AS HUGEINT)
        * CAST(u.t.unit_price * CAST(1000000000000 AS DECIMAL(13, 0)) AS HUGEINT) AS part_e24
    FROM tier_quantities AS q, unnest(q.tiers) AS u(t)
),
tier_sums AS (
    SELECT tenant_id, invoice_month, currency, family, meter, sum(part_e24) AS tiers_e24
    FROM tier_parts
    GROUP BY tenant_id, invoice_month, currency, family, meter
),
tiered AS (
    -- a line with tiered slices: its exact amount in 10^-24, the other slices' amounts with the tiers'
    SELECT
        l.tenant_id, l.invoice_month, l.currency, l.family, l.meter,
        CAST((l.amount_exact - l.tier_slices_amount) * CAST(1000000000000 AS DECIMAL(13, 0)) AS HUGEINT)
            * CAST(1000000000000 AS HUGEINT)
        + p.tiers_e24 AS exact_e24
    FROM line AS l
    JOIN tier_sums AS p
      ON p.tenant_id IS NOT DISTINCT FROM l.tenant_id AND p.invoice_month = l.invoice_month
     AND p.currency = l.currency AND p.family = l.family AND p.meter = l.meter
),
scaled AS (
    SELECT
        line.* EXCLUDE (amount_exact),
        line.amount_exact AS slices_amount,
        -- with tiers, rounded half-even once from the exact 10^-24 amount (>= 0) to 12 digits
        CASE WHEN t.exact_e24 IS NULL THEN line.amount_exact ELSE CAST(CAST(
            t.exact_e24 // CAST(1000000000000 AS HUGEINT)
            + CASE WHEN 2 * (t.exact_e24 % CAST(1000000000000 AS HUGEINT)) > CAST(1000000000000 AS HUGEINT)
                     OR (2 * (t.exact_e24 % CAST(1000000000000 AS HUGEINT)) = CAST(1000000000000 AS HUGEINT)
                         AND (t.exact_e24 // CAST(1000000000000 AS HUGEINT)) % 2 = 1)
                   THEN 1 ELSE 0 END
            AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS DECIMAL(38, 12))
        END AS amount_exact,
        t.exact_e24,
        -- 10^24 / minor_scale: one minor unit in 10^-24
        CAST('1000000000000000000000000' AS HUGEINT) // c.minor_scale AS minor_e24,
        c.minor_unit,
        c.minor_step,
        -- the amounts in minor units (cents), still with their fraction: DECIMAL * BIGINT stays DECIMAL(38, 12)
        CASE
            WHEN c.minor_scale IS NULL THEN error('invoice_lines: currency ' || coalesce(line.currency, 'NULL')
                || ' is not an ISO 4217 currency with minor units')
            ELSE line.amount_exact * c.minor_scale
        END AS minor_exact,
        line.list_amount_exact * c.minor_scale AS list_minor_exact
    FROM line
    LEFT JOIN tiered AS t
      ON t.tenant_id IS NOT DISTINCT FROM line.tenant_id AND t.invoice_month = line.invoice_month
     AND t.currency = line.currency AND t.family = line.family AND t.meter = line.meter
    LEFT JOIN currencies AS c ON c.currency = line.currency
),
rounded AS (
    SELECT
        scaled.*,
        CASE WHEN exact_e24 IS NOT NULL THEN
            exact_e24 // minor_e24
            + CASE WHEN 2 * (exact_e24 % minor_e24) > minor_e24
                     OR (2 * (exact_e24 % minor_e24) = minor_e24 AND (exact_e24 // minor_e24) % 2 = 1)
                   THEN 1 ELSE 0 END
        ELSE
            CAST(trunc(minor_exact) AS HUGEINT)
            + CASE
                WHEN abs(minor_exact - trunc(minor_exact)) > 0.5 THEN sign(minor_exact)
                WHEN abs(minor_exact - trunc(minor_exact)) = 0.5 AND CAST(trunc(minor_exact) AS HUGEINT) % 2 <> 0
                    THEN sign(minor_exact)  -- a tie goes to the even neighbour
                ELSE 0
            END
        END AS amount_minor,
        CAST(trunc(list_minor_exact) AS HUGEINT)
        + CASE
            WHEN abs(list_minor_exact - trunc(list_minor_exact)) > 0.5 THEN sign(list_minor_exact)
            WHEN abs(list_minor_exact - trunc(list_minor_exact)) = 0.5
                 AND CAST(trunc(list_minor_exact) AS HUGEINT) % 2 <> 0
                THEN sign(list_minor_exact)
            ELSE 0
        END AS list_amount_minor
    FROM scaled
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
    amount_exact,  -- the exact sum of the slices' amounts (12 fraction digits; with tiers, see above)
    minor_unit,
    CAST(amount_minor AS BIGINT) AS amount_minor,  -- the rounded amount in minor units (cents)
    CAST(CAST(amount_minor AS DECIMAL(38, 0)) * minor_step AS DECIMAL(38, 12)) AS amount,
    CAST(
        sum(CAST(amount_minor AS DECIMAL(38, 0)) * minor_step) OVER (
            PARTITION BY tenant_id, invoice_month, currency
        ) AS DECIMAL(38, 12)
    ) AS invoice_total,
    list_amount_exact,  -- what the list would have charged: the exact sum of the slices' list amounts
    CAST(list_amount_minor AS BIGINT) AS list_amount_minor,
    CAST(CAST(list_amount_minor AS DECIMAL(38, 0)) * minor_step AS DECIMAL(38, 12)) AS list_amount,
    CAST(amount_exact - slices_amount AS DECIMAL(38, 12)) AS tier_adjustment,  -- tiers less the slices' amounts
    contract_ids,  -- the contracts that priced the line's slices (space-separated; NULL: none)
    price_bases  -- how: list, price, discount, tier (space-separated; NULL: priced without contracts)
FROM rounded
ORDER BY invoice_month, tenant_id NULLS LAST, currency, family, meter
