-- invoice_lines: what each month's invoices bill, per tenant, currency, family and meter: usage, minimum true-ups, issued lines of closed months, corrections
-- Inputs: usage_lines (the usage as the slices hold it now), issued_lines and closes (closed months),
-- currencies, and the variable output_dir (the runs' manifests: their contracts' monthly minimums).
-- - An open month bills its usage lines (charge_class 'Usage') and the corrections of closed months
--   whose first open month it is (charge_class 'Correction', corrects_month the closed month).
-- - A tenant whose contract commits to a monthly minimum gets, once the month is complete (every day
--   run to its end, or the month run) and while it is open, one 'Minimum' line (family
--   NULL, meter 'monthly_minimum') of the minimum less the tenant's usage lines of the month in that
--   currency (in minor units), when that is above zero.
-- - A closed month bills exactly its issued lines: what `reconcile close` froze, never recomputed
--   (its Minimum line included).
-- - A correction is the closed month's usage now minus what was billed for it (its issued usage
--   lines and the corrections of it issued in later closed months), per tenant, currency, family and
--   meter: amounts in whole minor units (each side rounded once, as every line), quantities exact.
--   It appears while it is not zero, in the first month after the closed one that is not closed. A
--   Minimum line is not corrected: it is billed as issued.
-- list_amount: what the price book alone would have billed (the minimum's true-up: its amount);
-- contract_ids and price_bases say which contracts priced the line and how (NULL: priced without
-- a contracts file). invoice_total is the sum of the invoice's lines, so it always equals them.
WITH manifests AS (  -- commitments: each run's manifest records its month's minimums (options.commitments)
    SELECT
        CAST(period_start AS TIMESTAMPTZ_NS) AS period_start,
        CAST(period_end AS TIMESTAMPTZ_NS) AS period_end,
        CAST(cut_off AS TIMESTAMPTZ_NS) AS cut_off,
        options.commitments AS commitments
    FROM read_json(
        getvariable('output_dir') || '/manifests/*/manifest.json',
        columns = {
            period_start: 'VARCHAR',
            period_end: 'VARCHAR',
            cut_off: 'VARCHAR',
            options: 'STRUCT(commitments STRUCT(contract_id VARCHAR, tenant_id VARCHAR, month VARCHAR, monthly_minimum VARCHAR, currency VARCHAR)[])'
        }
    )
),
months AS (
    SELECT
        CAST(date_trunc('month', period_start) AS DATE) AS invoice_month,
        coalesce(sum(epoch_ns(period_end) - epoch_ns(period_start)) FILTER (WHERE cut_off = period_end), 0)
            AS run_ns,
        arg_max(commitments, period_end) AS commitments
    FROM manifests
    GROUP BY CAST(date_trunc('month', period_start) AS DATE)
),
commitments AS (  -- a month's minimums as its latest run (greatest period_end) recorded them; the month is
    -- complete when its runs, each to its period's end, cover every day of it
    SELECT
        m.invoice_month,
        u.c.tenant_id AS tenant_id,
        u.c.contract_id AS contract_id,
        u.c.currency AS currency,
        CAST(u.c.monthly_minimum AS DECIMAL(38, 12)) AS monthly_minimum,
        m.run_ns = epoch_ns(CAST(CAST(m.invoice_month + INTERVAL 1 MONTH AS DATE) AS TIMESTAMPTZ))
            - epoch_ns(CAST(m.invoice_month AS TIMESTAMPTZ)) AS month_complete
    FROM months AS m, unnest(m.commitments) AS u(c)
    WHERE u.c.month = strftime(m.invoice_month, '%Y-%m')
),
closed AS (
    SELECT invoice_month FROM closes
),
usage AS (
    SELECT *, 'Usage' AS charge_class, CAST(NULL AS DATE) AS corrects_month
    FROM usage_lines
    WHERE invoice_month NOT IN (SELECT invoice_month FROM closed)
),
issued AS (  -- issued lines; those frozen before contracts existed have no list columns: the list was billed
    SELECT
        * EXCLUDE (list_amount_exact, list_amount_minor, list_amount),
        coalesce(list_amount_exact, amount_exact) AS list_amount_exact,
        coalesce(list_amount_minor, amount_minor) AS list_amount_minor,
        coalesce(list_amount, amount) AS list_amount
    FROM (
        SELECT * FROM issued_lines
        UNION ALL BY NAME
        SELECT
            CAST(NULL AS DECIMAL(38, 12)) AS list_amount_exact,
            CAST(NULL AS BIGINT) AS list_amount_minor,
            CAST(NULL AS DECIMAL(38, 12)) AS list_amount,
            CAST(NULL AS DECIMAL(38, 12)) AS tier_adjustment,
            CAST(NULL AS VARCHAR) AS contract_ids,
            CAST(NULL AS VARCHAR) AS price_bases
        WHERE false
    )
),
minimums AS (
    SELECT
        c.tenant_id,
        c.invoice_month,
        c.currency,
        CAST(NULL AS VARCHAR) AS family,
        'monthly_minimum' AS meter,
        CAST(NULL AS BIGINT) AS slices,
        CAST(NULL AS DECIMAL(38, 12)) AS quantity,
        CAST(NULL AS DECIMAL(38, 12)) AS billed_quantity,
        CAST(CAST(c.monthly_minimum * m.minor_scale AS BIGINT) - coalesce(u.amount_minor, 0) AS BIGINT) AS owed,
        m.minor_unit,
        m.minor_step,
        c.contract_id
    FROM commitments AS c
    JOIN currencies AS m ON m.currency = c.currency
    LEFT JOIN (
        SELECT tenant_id, invoice_month, currency, sum(amount_minor) AS amount_minor
        FROM usage
        GROUP BY ALL
    ) AS u ON u.tenant_id = c.tenant_id AND u.invoice_month = c.invoice_month AND u.currency = c.currency
    WHERE c.month_complete AND c.invoice_month NOT IN (SELECT invoice_month FROM closed)
),
billed AS (  -- what has been billed for each closed month's usage so far
    SELECT
        coalesce(corrects_month, invoice_month) AS usage_month,
        tenant_id, currency, family, meter,
        max(minor_unit) AS minor_unit,
        CAST(sum(quantity) AS DECIMAL(38, 12)) AS quantity,
        CAST(sum(billed_quantity) AS DECIMAL(38, 12)) AS billed_quantity,
        CAST(sum(amount_exact) AS DECIMAL(38, 12)) AS amount_exact,
        sum(amount_minor) AS amount_minor,
        CAST(sum(list_amount_exact) AS DECIMAL(38, 12)) AS list_amount_exact,
        sum(list_amount_minor) AS list_amount_minor
    FROM issued
    WHERE charge_class <> 'Minimum'
    GROUP BY ALL
),
truth AS (
    SELECT * FROM usage_lines WHERE invoice_month IN (SELECT invoice_month FROM closed)
),
difference AS (
    SELECT
        coalesce(t.invoice_month, b.usage_month) AS corrects_month,
        coalesce(t.tenant_id, b.tenant_id) AS tenant_id,
        coalesce(t.currency, b.currency) AS currency,
        coalesce(t.family, b.family) AS family,
        coalesce(t.meter, b.meter) AS meter,
        coalesce(t.minor_unit, b.minor_unit) AS minor_unit,
        CAST(coalesce(t.quantity, 0) - coalesce(b.quantity, 0) AS DECIMAL(38, 12)) AS quantity,
        CAST(coalesce(t.billed_quantity, 0) - coalesce(b.billed_quantity, 0) AS DECIMAL(38, 12))
            AS billed_quantity,
        CAST(coalesce(t.amount_exact, 0) - coalesce(b.amount_exact, 0) AS DECIMAL(38, 12)) AS amount_exact,
        CAST(coalesce(t.amount_minor, 0) - coalesce(b.amount_minor, 0) AS BIGINT) AS amount_minor,
        CAST(coalesce(t.list_amount_exact, 0) - coalesce(b.list_amount_exact, 0) AS DECIMAL(38, 12))
            AS list_amount_exact,
        CAST(coalesce(t.list_amount_minor, 0) - coalesce(b.list_amount_minor, 0) AS BIGINT) AS list_amount_minor,
        t.contract_ids,
        t.price_bases
    FROM truth AS t
    FULL OUTER JOIN billed AS b
        ON b.usage_month = t.invoice_month
        AND b.tenant_id IS NOT DISTINCT FROM t.tenant_id
        AND b.currency = t.currency
        AND b.family = t.family
        AND b.meter = t.meter
),
open_after AS (  -- the first month after a closed one that is not closed: some closed month + 1
    SELECT c.invoice_month AS corrects_month, min(n.next_month) AS invoice_month
    FROM closed AS c
    JOIN (
        SELECT CAST(invoice_month + INTERVAL 1 MONTH AS DATE) AS next_month FROM closed
    ) AS n ON n.next_month > c.invoice_month
    WHERE n.next_month NOT IN (SELECT invoice_month FROM closed)
    GROUP BY c.invoice_month
),
corrections AS (
    SELECT
        d.tenant_id,
        o.invoice_month,
        d.currency,
        d.family,
        d.meter,
        CAST(NULL AS BIGINT) AS slices,
        d.quantity,
        d.billed_quantity,
        d.amount_exact,
        d.minor_unit,
        d.amount_minor,
        CAST(CAST(d.amount_minor AS DECIMAL(38, 0)) * c.minor_step AS DECIMAL(38, 12)) AS amount,
        'Correction' AS charge_class,
        d.corrects_month,
        d.list_amount_exact,
        d.list_amount_minor,
        CAST(CAST(d.list_amount_minor AS DECIMAL(38, 0)) * c.minor_step AS DECIMAL(38, 12)) AS list_amount,
        CAST(NULL AS DECIMAL(38, 12)) AS tier_adjustment,
        d.contract_ids,
        d.price_bases
    FROM difference AS d
    JOIN open_after AS o ON o.corrects_month = d.corrects_month
    LEFT JOIN currencies AS c ON c.currency = d.currency
    WHERE d.amount_minor <> 0 OR d.quantity <> 0 OR d.billed_quantity <> 0
),
lines AS (
    SELECT tenant_id, invoice_month, currency, family, meter, slices, quantity, billed_quantity,
        amount_exact, minor_unit, amount_minor, amount, charge_class, corrects_month,
        list_amount_exact, list_amount_minor, list_amount, tier_adjustment, contract_ids, price_bases
    FROM usage
    UNION ALL
    SELECT tenant_id, invoice_month, currency, family, meter, slices, quantity, billed_quantity,
        CAST(CAST(owed AS DECIMAL(38, 0)) * minor_step AS DECIMAL(38, 12)) AS amount_exact,
        minor_unit,
        owed AS amount_minor,
        CAST(CAST(owed AS DECIMAL(38, 0)) * minor_step AS DECIMAL(38, 12)) AS amount,
        'Minimum' AS charge_class,
        CAST(NULL AS DATE) AS corrects_month,
        CAST(CAST(owed AS DECIMAL(38, 0)) * minor_step AS DECIMAL(38, 12)) AS list_amount_exact,
        owed AS list_amount_minor,
        CAST(CAST(owed AS DECIMAL(38, 0)) * minor_step AS DECIMAL(38, 12)) AS list_amount,
        CAST(NULL AS DECIMAL(38, 12)) AS tier_adjustment,
        contract_id AS contract_ids,
        'minimum' AS price_bases
    FROM minimums
    WHERE owed > 0
    UNION ALL
    SELECT tenant_id, invoice_month, currency, family, meter, slices, quantity, billed_quantity,
        amount_exact, minor_unit, amount_minor, amount, charge_class, corrects_month,
        list_amount_exact, list_amount_minor, list_amount, tier_adjustment, contract_ids, price_bases
    FROM corrections
    UNION ALL
    SELECT tenant_id, invoice_month, currency, family, meter, slices, quantity, billed_quantity,
        amount_exact, minor_unit, amount_minor, amount, charge_class, corrects_month,
        list_amount_exact, list_amount_minor, list_amount, tier_adjustment, contract_ids, price_bases
    FROM issued
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
    amount_exact,
    minor_unit,
    amount_minor,
    amount,
    CAST(
        sum(amount) OVER (PARTITION BY tenant_id, invoice_month, currency) AS DECIMAL(38, 12)
    ) AS invoice_total,
    charge_class,  -- 'Usage', 'Minimum' (a commitment's true-up), or 'Correction' of a closed month
    corrects_month,  -- the closed month a correction corrects (NULL otherwise)
    list_amount_exact,  -- what the price book alone would have billed (exact; the true-up: its amount)
    list_amount_minor,
    list_amount,
    tier_adjustment,  -- a tiered line: its amount less its slices' (first tier's price) amounts
    contract_ids,  -- the contracts that priced the line (space-separated; NULL: none)
    price_bases  -- list, price, discount, tier, minimum (space-separated; NULL: no contracts file)
FROM lines
ORDER BY invoice_month, tenant_id NULLS LAST, currency, charge_class DESC, corrects_month, family NULLS LAST, meter
