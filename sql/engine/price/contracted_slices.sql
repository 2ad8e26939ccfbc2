-- contracted_slices: the priced slices charged at their contracts' terms (docs/SPEC.md, "Contracts"):
-- the columns of slices.sql, with unit_price, price_unit, hours_per_month and amount what the tenant is
-- charged, and what the list would have charged (list_unit_price, list_price_unit,
-- list_hours_per_month, list_amount), the contract applied (contract_id, NULL: none) and how
-- (price_basis, discount_percent, contract_tiers).
-- Inputs: `list_slices` (slices.sql's rows), `slice_contracts`, `contract_meters`, `contract_prices`,
-- `contract_tiers`, `prices`. Needs the macros of div_half_even.sql.
-- price_basis, per slice and meter: `list` (no contract, or one that sets nothing for the meter),
-- `price` (the contract's negotiated price for the slice's hypervisor, else its default one: replaces
-- the list price, no discount on top), `discount` (the list price less discount_percent, rounded
-- half-even once to 12 fraction digits), `tier` (graduated tiers of the month's billed quantity: the
-- slice carries the first tier's price per the meter's own hours, and the month's invoice line bills
-- the quantity through the tiers in contract_tiers).
-- Money as slices.sql computes it: exact integers scaled by 10^12 (HUGEINT), amount =
-- billed_quantity * unit_price [/ hours_per_month] rounded half-even once per slice.
WITH schedules AS (
    -- each tiered meter's tiers, lowest first: what the slice carries so its invoice line can be
    -- computed from the output alone
    SELECT
        contract_id,
        family,
        meter,
        any_value(unit) AS tier_unit,              -- the meter's own hours (vCPU-hour, GiB-hour)
        list(
            struct_pack(tier := tier, lower := lower, up_to := up_to, unit_price := unit_price)
            ORDER BY tier
        ) AS contract_tiers
    FROM contract_tiers
    GROUP BY contract_id, family, meter
),
terms AS (
    SELECT
        s.*,
        c.contract_id,
        coalesce(m.basis, 'list') AS price_basis,
        m.discount_keep_e12,
        m.tier_unit_price,
        m.tier_unit_price_e12,
        coalesce(own.unit, dflt.unit) AS contract_unit,
        coalesce(own.unit_price, dflt.unit_price) AS contract_unit_price,
        coalesce(own.unit_price_e12, dflt.unit_price_e12) AS contract_unit_price_e12,
        CASE WHEN own.entry IS NOT NULL THEN own.hours_per_month ELSE dflt.hours_per_month END
            AS contract_hours_per_month,
        CAST(p.unit_price_e12 AS HUGEINT) AS list_unit_price_e12
    FROM list_slices AS s
    LEFT JOIN slice_contracts AS c
      ON c.price_period = s.price_period AND c.interval_id = s.interval_id
     AND c.slice_start_ns = s.slice_start_ns AND c.slice_end_ns = s.slice_end_ns
    LEFT JOIN contract_meters AS m
      ON m.contract_id = c.contract_id AND m.family = s.family AND m.meter = s.meter
    LEFT JOIN contract_prices AS own
      ON own.contract_id = c.contract_id AND own.family = s.family AND own.meter = s.meter
     AND own.hypervisor = s.hypervisor
    LEFT JOIN contract_prices AS dflt
      ON dflt.contract_id = c.contract_id AND dflt.family = s.family AND dflt.meter = s.meter
     AND dflt.hypervisor IS NULL
    LEFT JOIN prices AS p ON p.entry = s.price_entry
),
charged AS (
    SELECT
        *,
        CASE price_basis
            WHEN 'price' THEN CAST(contract_unit_price_e12 AS HUGEINT)
            WHEN 'discount' THEN div_half_even(list_unit_price_e12 * CAST(discount_keep_e12 AS HUGEINT),
                                               CAST(100000000000000 AS HUGEINT))
            WHEN 'tier' THEN CAST(tier_unit_price_e12 AS HUGEINT)
            ELSE list_unit_price_e12
        END AS unit_price_e12,
        CASE price_basis
            WHEN 'price' THEN contract_hours_per_month
            WHEN 'tier' THEN CAST(NULL AS INTEGER)
            ELSE hours_per_month
        END AS charged_hours_per_month,
        -- billed_quantity as its exact integer of 10^-12 units
        CAST(billed_quantity * CAST(1000000000000 AS DECIMAL(13, 0)) AS HUGEINT) AS billed_quantity_e12
    FROM terms
),
amounts AS (
    SELECT
        *,
        mul_div_half_even(
            billed_quantity_e12, unit_price_e12,
            CAST(1000000000000 AS HUGEINT) * coalesce(charged_hours_per_month, 1)
        ) AS amount_e12
    FROM charged
)
SELECT
    a.interval_id,
    a.family,
    a.resource_id,
    a.tenant_id,
    a.usage_date,
    a.slice_start,
    a.slice_end,
    a.seconds,
    a.meter,
    a.quantity,
    a.billed_quantity,
    CAST(a.unit_price_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS unit_price,
    CASE a.price_basis
        WHEN 'price' THEN a.contract_unit
        WHEN 'tier' THEN t.tier_unit
        ELSE a.price_unit
    END AS price_unit,
    a.charged_hours_per_month AS hours_per_month,
    CAST(a.amount_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS amount,
    a.currency,
    a.price_version,
    a.status,
    a.hypervisor,
    a.slice_start_ns,
    a.slice_end_ns,
    a.billed_seconds,
    a.price_entry,
    a.price_period,
    a.unit_price AS list_unit_price,               -- the price book's price of the slice
    a.price_unit AS list_price_unit,
    a.hours_per_month AS list_hours_per_month,
    a.amount AS list_amount,                       -- what the list would have charged
    a.contract_id,                                 -- the contract charged under (NULL: none)
    a.price_basis,                                 -- list | price | discount | tier
    CASE WHEN a.price_basis = 'discount' THEN k.discount_percent END AS discount_percent,
    CASE WHEN a.price_basis = 'tier' THEN t.contract_tiers END AS contract_tiers
FROM amounts AS a
LEFT JOIN contracts AS k ON k.contract_id = a.contract_id
LEFT JOIN schedules AS t ON t.contract_id = a.contract_id AND t.family = a.family AND t.meter = a.meter
