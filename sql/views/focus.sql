-- focus: every slice and meter as a FOCUS 1.2 cost-and-usage row (Usage, Usage-Based), with x_ columns of our own; docs/FOCUS.md maps each column
-- Inputs: slices, intervals, anomalies, and the FOCUS names of families, meters and price units (the
-- relations families, meters, pricing_units: reconcile._core._families); variables focus_provider_name, focus_publisher_name,
-- focus_invoice_issuer_name, focus_billing_account_id, focus_billing_account_name (configured constants),
-- period_start and period_end (TIMESTAMPTZ_NS, NULL for no bound: rows whose ChargePeriodStart lies inside).
-- Costs are the slice amounts (DECIMAL(38, 12), not rounded to the minor unit: invoice_lines does that).
-- The billing period is the calendar month (UTC) of the usage, as invoice_lines bills it. A closed
-- month's rows are its slices as issued (issued_slices: later restatements never change them); what
-- changed since is a ChargeClass 'Correction' row per invoice_lines correction, billed in the first
-- open month (its BillingPeriod, and what the period filter matches), charged over the corrected
-- days (ChargePeriodStart/End), with x_CorrectsMonth, x_CorrectedRunIds (the runs issued),
-- x_CorrectingRunIds (the runs now) and x_CorrectionCause (why each later version was made).
-- With contracts: ListUnitPrice/ListCost are the price book's, ContractedUnitPrice/ContractedCost/BilledCost
-- what the contract charged; a tiered line's month adjustment is an 'Adjustment' row and a monthly
-- minimum's true-up a 'Purchase' row (docs/FOCUS.md says why).
WITH closed AS (
    SELECT DISTINCT invoice_month FROM closes
),
billed_slices AS (
    SELECT * FROM slices
    WHERE CAST(date_trunc('month', usage_date) AS DATE) NOT IN (SELECT invoice_month FROM closed)
    UNION ALL BY NAME
    SELECT * FROM issued_slices
    UNION ALL BY NAME  -- slices priced without a contracts file have no list columns: the list was charged
    SELECT
        CAST(NULL AS DECIMAL(38, 12)) AS list_amount,
        CAST(NULL AS DECIMAL(38, 12)) AS list_unit_price,
        CAST(NULL AS VARCHAR) AS list_price_unit,
        CAST(NULL AS BIGINT) AS list_hours_per_month,
        CAST(NULL AS VARCHAR) AS contract_id
    WHERE false
),
interval_info AS (
    SELECT interval_id, min(hypervisor) AS hypervisor, arg_max(status, period) AS latest_status
    FROM intervals
    GROUP BY interval_id
),
interval_anomalies AS (
    SELECT interval_id, string_agg(DISTINCT code, ',' ORDER BY code) AS codes
    FROM anomalies
    WHERE interval_id IS NOT NULL
    GROUP BY interval_id
),
priced AS (
    SELECT
        s.*,
        i.hypervisor,
        i.latest_status,
        a.codes AS anomaly_codes,
        -- billed_quantity is in the meter's hours; a monthly price counts months: divide by hours_per_month
        -- exactly, in integers of 1e-12, half-even (DECIMAL / DECIMAL would be a DOUBLE in DuckDB):
        -- months * 1e12 = (hours * 1e12) / hours_per_month
        CAST(s.billed_quantity * 1000000000000 AS HUGEINT) AS q_num,
        CAST(s.hours_per_month AS HUGEINT) AS q_den,
        -- a list price per month for a slice a contract charges per hour: per hour, exactly in 1e-12, half-even
        CAST(s.list_unit_price * 1000000000000 AS HUGEINT) AS l_num,
        CAST(s.list_hours_per_month AS HUGEINT) AS l_den
    FROM billed_slices AS s
    LEFT JOIN interval_info AS i ON i.interval_id = s.interval_id
    LEFT JOIN interval_anomalies AS a ON a.interval_id = s.interval_id
    WHERE (getvariable('period_start') IS NULL OR s.slice_start >= getvariable('period_start'))
      AND (getvariable('period_end') IS NULL OR s.slice_start < getvariable('period_end'))
),
pricing AS (
    SELECT
        priced.*,
        CASE
            WHEN s_monthly THEN CAST(
                CAST(
                    q_num // q_den
                    + CASE
                        WHEN 2 * (q_num % q_den) > q_den
                            OR (2 * (q_num % q_den) = q_den AND (q_num // q_den) % 2 = 1) THEN 1
                        ELSE 0
                    END
                    AS DECIMAL(38, 0)
                ) * CAST('0.000000000001' AS DECIMAL(38, 12)) AS DECIMAL(38, 12)
            )
            ELSE CAST(billed_quantity AS DECIMAL(38, 12))
        END AS pricing_quantity,
        -- ListUnitPrice is per PricingUnit (the charged unit): the list's price, converted when a contract
        -- prices the meter in another unit (GiB-hour list, GiB-month contract: times hours_per_month exactly;
        -- GiB-month list, GiB-hour contract: divided by the list's hours_per_month, half-even to 12 digits)
        CASE
            WHEN list_unit_price IS NULL OR list_price_unit = price_unit THEN coalesce(list_unit_price, unit_price)
            WHEN price_unit LIKE '%-month' AND list_price_unit NOT LIKE '%-month' AND hours_per_month IS NOT NULL
                THEN list_unit_price * hours_per_month
            WHEN list_price_unit LIKE '%-month' AND price_unit NOT LIKE '%-month' AND l_den IS NOT NULL THEN CAST(
                CAST(
                    l_num // l_den
                    + CASE
                        WHEN 2 * (l_num % l_den) > l_den
                            OR (2 * (l_num % l_den) = l_den AND (l_num // l_den) % 2 = 1) THEN 1
                        ELSE 0
                    END
                    AS DECIMAL(38, 0)
                ) * CAST('0.000000000001' AS DECIMAL(38, 12)) AS DECIMAL(38, 12)
            )
        END AS list_unit_price_focus
    FROM (SELECT *, (price_unit LIKE '%-month' AND hours_per_month IS NOT NULL) AS s_monthly FROM priced) AS priced
),
named AS (
    -- the FOCUS names of each slice's family, meter and price unit: the relations families, meters and
    -- pricing_units (reconcile._core._families)
    SELECT
        p.*,
        f.focus_category,
        f.focus_service,
        f.focus_resource_type,
        f.focus_subcategory,
        mt.focus_unit AS focus_consumed_unit,
        pu.focus AS focus_pricing_unit
    FROM pricing AS p
    LEFT JOIN families AS f ON f.family = p.family
    LEFT JOIN meters AS mt ON mt.family = p.family AND mt.meter = p.meter
    LEFT JOIN pricing_units AS pu ON pu.unit = p.price_unit
)
SELECT
    -- FOCUS 1.2 mandatory columns
    CAST(amount AS DECIMAL(38, 12)) AS BilledCost,
    CAST(getvariable('focus_billing_account_id') AS VARCHAR) AS BillingAccountId,
    CAST(getvariable('focus_billing_account_name') AS VARCHAR) AS BillingAccountName,
    currency AS BillingCurrency,
    timezone('UTC', CAST(CAST(date_trunc('month', usage_date) AS DATE) + INTERVAL 1 MONTH AS TIMESTAMP_NS)) AS BillingPeriodEnd,
    timezone('UTC', CAST(CAST(date_trunc('month', usage_date) AS DATE) AS TIMESTAMP_NS)) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    CAST(NULL AS VARCHAR) AS ChargeClass,  -- NULL: a regular charge, not a correction
    family || ' ' || meter || ' of ' || resource_id || ' at ' || CAST(unit_price AS VARCHAR) || ' ' || currency
        || ' per ' || price_unit AS ChargeDescription,
    slice_end AS ChargePeriodEnd,
    slice_start AS ChargePeriodStart,
    CAST(amount AS DECIMAL(38, 12)) AS ContractedCost,  -- the contracted charge (the list price without a contract)
    CAST(amount AS DECIMAL(38, 12)) AS EffectiveCost,  -- nothing amortized
    CAST(getvariable('focus_invoice_issuer_name') AS VARCHAR) AS InvoiceIssuerName,
    CAST(coalesce(list_amount, amount) AS DECIMAL(38, 12)) AS ListCost,  -- the price book's, before contracts
    pricing_quantity AS PricingQuantity,
    coalesce(focus_pricing_unit, price_unit) AS PricingUnit,
    CAST(getvariable('focus_provider_name') AS VARCHAR) AS ProviderName,
    CAST(getvariable('focus_publisher_name') AS VARCHAR) AS PublisherName,
    coalesce(focus_category, 'Storage') AS ServiceCategory,
    coalesce(focus_service, family) AS ServiceName,
    -- FOCUS 1.2 conditional and recommended columns we can fill
    'Usage-Based' AS ChargeFrequency,
    CAST(quantity AS DECIMAL(38, 12)) AS ConsumedQuantity,
    coalesce(focus_consumed_unit, meter) AS ConsumedUnit,
    CAST(unit_price AS DECIMAL(38, 12)) AS ContractedUnitPrice,
    CAST(list_unit_price_focus AS DECIMAL(38, 12)) AS ListUnitPrice,
    'Standard' AS PricingCategory,
    resource_id AS ResourceId,
    resource_id AS ResourceName,
    coalesce(focus_resource_type, family) AS ResourceType,
    coalesce(focus_subcategory, 'Other (Storage)') AS ServiceSubcategory,
    family || ':' || meter AS SkuId,
    meter AS SkuMeter,
    -- one price point: the SKU, the hypervisor it was priced for, the unit price and the price book version
    family || ':' || meter || ':' || coalesce(hypervisor, '*') || ':' || CAST(unit_price AS VARCHAR) || '/'
        || price_unit || ':' || coalesce(price_version, '') AS SkuPriceId,
    tenant_id AS SubAccountId,
    tenant_id AS SubAccountName,
    CASE WHEN tenant_id IS NULL THEN NULL ELSE 'Tenant' END AS SubAccountType,
    -- our own columns (FOCUS custom columns start with x_)
    status AS x_IntervalStatus,  -- the interval's status in the run that wrote this slice
    latest_status AS x_IntervalLatestStatus,  -- its status in the latest period that saw it
    anomaly_codes AS x_AnomalyCodes,  -- comma-separated codes of the anomalies naming the interval, or NULL
    run_id AS x_RunId,
    interval_id AS x_IntervalId,
    family AS x_Family,
    meter AS x_Meter,
    hypervisor AS x_Hypervisor,
    usage_date AS x_UsageDate,
    seconds AS x_Seconds,
    CAST(billed_quantity AS DECIMAL(38, 12)) AS x_BilledQuantityHours,  -- billed_quantity in the meter's hours
    price_version AS x_PriceVersion
FROM named
UNION ALL BY NAME
SELECT
    CAST(c.amount AS DECIMAL(38, 12)) AS BilledCost,
    CAST(getvariable('focus_billing_account_id') AS VARCHAR) AS BillingAccountId,
    CAST(getvariable('focus_billing_account_name') AS VARCHAR) AS BillingAccountName,
    c.currency AS BillingCurrency,
    timezone('UTC', CAST(c.invoice_month + INTERVAL 1 MONTH AS TIMESTAMP_NS)) AS BillingPeriodEnd,
    timezone('UTC', CAST(c.invoice_month AS TIMESTAMP_NS)) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    'Correction' AS ChargeClass,
    'correction of ' || c.family || ' ' || c.meter || ' for ' || strftime(c.corrects_month, '%Y-%m')
        AS ChargeDescription,
    coalesce(d.last_day + INTERVAL 1 DAY, timezone('UTC', CAST(c.corrects_month + INTERVAL 1 MONTH AS TIMESTAMP_NS)))
        AS ChargePeriodEnd,
    coalesce(d.first_day, timezone('UTC', CAST(c.corrects_month AS TIMESTAMP_NS))) AS ChargePeriodStart,
    CAST(c.amount AS DECIMAL(38, 12)) AS ContractedCost,
    CAST(c.amount AS DECIMAL(38, 12)) AS EffectiveCost,
    CAST(getvariable('focus_invoice_issuer_name') AS VARCHAR) AS InvoiceIssuerName,
    CAST(c.amount AS DECIMAL(38, 12)) AS ListCost,
    CAST(NULL AS DECIMAL(38, 12)) AS PricingQuantity,  -- a correction of several prices: no one quantity
    CAST(NULL AS VARCHAR) AS PricingUnit,
    CAST(getvariable('focus_provider_name') AS VARCHAR) AS ProviderName,
    CAST(getvariable('focus_publisher_name') AS VARCHAR) AS PublisherName,
    coalesce(f.focus_category, 'Storage') AS ServiceCategory,
    coalesce(f.focus_service, c.family) AS ServiceName,
    'Usage-Based' AS ChargeFrequency,
    CAST(c.quantity AS DECIMAL(38, 12)) AS ConsumedQuantity,
    coalesce(mt.focus_unit, c.meter) AS ConsumedUnit,
    'Standard' AS PricingCategory,
    c.family || ':' || c.meter AS SkuId,
    c.meter AS SkuMeter,
    c.tenant_id AS SubAccountId,
    c.tenant_id AS SubAccountName,
    CASE WHEN c.tenant_id IS NULL THEN NULL ELSE 'Tenant' END AS SubAccountType,
    c.family AS x_Family,
    c.meter AS x_Meter,
    CAST(c.billed_quantity AS DECIMAL(38, 12)) AS x_BilledQuantityHours,
    c.corrects_month AS x_CorrectsMonth,
    d.issued_runs AS x_CorrectedRunIds,
    d.current_runs AS x_CorrectingRunIds,
    d.cause AS x_CorrectionCause
FROM invoice_lines AS c
LEFT JOIN (
    -- per closed month: the periods whose run is not the one issued, and why each later version came
    SELECT
        cl.invoice_month,
        timezone('UTC', CAST(min(CAST(r.period_start AS DATE)) AS TIMESTAMP_NS)) AS first_day,
        timezone('UTC', CAST(max(CAST(r.period_end - INTERVAL 1 DAY AS DATE)) AS TIMESTAMP_NS)) AS last_day,
        string_agg(cl.run_id, ',' ORDER BY cl.period) AS issued_runs,
        string_agg(r.run_id, ',' ORDER BY cl.period) AS current_runs,
        string_agg(
            (SELECT string_agg(DISTINCT v.period || ': ' || v.why, '; ')
             FROM bill_versions AS v
             WHERE v.period = cl.period AND v.version > cl.version AND v.why IS NOT NULL),
            '; ' ORDER BY cl.period
        ) AS cause
    FROM closes AS cl
    JOIN runs AS r ON r.period = cl.period
    WHERE r.run_id <> cl.run_id
    GROUP BY cl.invoice_month
) AS d ON d.invoice_month = c.corrects_month
LEFT JOIN families AS f ON f.family = c.family
LEFT JOIN meters AS mt ON mt.family = c.family AND mt.meter = c.meter
WHERE c.charge_class = 'Correction'
  AND (getvariable('period_start') IS NULL OR timezone('UTC', CAST(c.invoice_month AS TIMESTAMP_NS)) >= getvariable('period_start'))
  AND (getvariable('period_end') IS NULL OR timezone('UTC', CAST(c.invoice_month AS TIMESTAMP_NS)) < getvariable('period_end'))
UNION ALL BY NAME
-- contracts: a tiered line's adjustment (its month's quantity through the tiers less its slices' amounts,
-- which carry the first tier's price) is an 'Adjustment' row of the month; a monthly minimum's true-up is a
-- 'Purchase' row (Recurring) of the month. Both come from invoice_lines (a closed month's as issued), so
-- the month's BilledCost sums to its lines' exact amounts. Without a contracts file there are none.
SELECT
    CAST(CASE WHEN c.charge_class = 'Minimum' THEN c.amount ELSE c.tier_adjustment END AS DECIMAL(38, 12))
        AS BilledCost,
    CAST(getvariable('focus_billing_account_id') AS VARCHAR) AS BillingAccountId,
    CAST(getvariable('focus_billing_account_name') AS VARCHAR) AS BillingAccountName,
    c.currency AS BillingCurrency,
    timezone('UTC', CAST(c.invoice_month + INTERVAL 1 MONTH AS TIMESTAMP_NS)) AS BillingPeriodEnd,
    timezone('UTC', CAST(c.invoice_month AS TIMESTAMP_NS)) AS BillingPeriodStart,
    CASE WHEN c.charge_class = 'Minimum' THEN 'Purchase' ELSE 'Adjustment' END AS ChargeCategory,
    CAST(NULL AS VARCHAR) AS ChargeClass,
    CASE
        WHEN c.charge_class = 'Minimum' THEN 'monthly minimum true-up of contract ' || c.contract_ids || ' for '
            || strftime(c.invoice_month, '%Y-%m')
        ELSE 'graduated tiers of contract ' || c.contract_ids || ' on ' || c.family || ' ' || c.meter || ' for '
            || strftime(c.invoice_month, '%Y-%m') || ' (' || CAST(c.billed_quantity AS VARCHAR)
            || ' billed hours; slices carry the first tier''s price)'
    END AS ChargeDescription,
    timezone('UTC', CAST(c.invoice_month + INTERVAL 1 MONTH AS TIMESTAMP_NS)) AS ChargePeriodEnd,
    timezone('UTC', CAST(c.invoice_month AS TIMESTAMP_NS)) AS ChargePeriodStart,
    CAST(CASE WHEN c.charge_class = 'Minimum' THEN c.amount ELSE c.tier_adjustment END AS DECIMAL(38, 12))
        AS ContractedCost,
    CAST(CASE WHEN c.charge_class = 'Minimum' THEN c.amount ELSE c.tier_adjustment END AS DECIMAL(38, 12))
        AS EffectiveCost,
    CAST(getvariable('focus_invoice_issuer_name') AS VARCHAR) AS InvoiceIssuerName,
    -- the list charged the tiered slices' list amounts already (their ListCost); the true-up: its amount
    CAST(CASE WHEN c.charge_class = 'Minimum' THEN c.amount ELSE 0 END AS DECIMAL(38, 12)) AS ListCost,
    CAST(NULL AS DECIMAL(38, 12)) AS PricingQuantity,  -- several tiers' prices, or a commitment: no one quantity
    CAST(NULL AS VARCHAR) AS PricingUnit,
    CAST(getvariable('focus_provider_name') AS VARCHAR) AS ProviderName,
    CAST(getvariable('focus_publisher_name') AS VARCHAR) AS PublisherName,
    CASE WHEN c.family IS NULL THEN 'Other' ELSE coalesce(f.focus_category, 'Storage') END AS ServiceCategory,
    coalesce(f.focus_service, 'MicroVM Commitments') AS ServiceName,
    CASE WHEN c.charge_class = 'Minimum' THEN 'Recurring' ELSE 'Usage-Based' END AS ChargeFrequency,
    CASE WHEN c.charge_class = 'Minimum' THEN 'Committed' ELSE 'Standard' END AS PricingCategory,
    coalesce(c.family || ':' || c.meter, 'contract:' || c.meter) AS SkuId,
    c.meter AS SkuMeter,
    c.tenant_id AS SubAccountId,
    c.tenant_id AS SubAccountName,
    CASE WHEN c.tenant_id IS NULL THEN NULL ELSE 'Tenant' END AS SubAccountType,
    c.family AS x_Family,
    c.meter AS x_Meter,
    CAST(c.billed_quantity AS DECIMAL(38, 12)) AS x_BilledQuantityHours
FROM invoice_lines AS c
LEFT JOIN families AS f ON f.family = c.family
WHERE (c.charge_class = 'Minimum' OR (c.charge_class = 'Usage' AND c.tier_adjustment <> 0))
  AND (getvariable('period_start') IS NULL OR timezone('UTC', CAST(c.invoice_month AS TIMESTAMP_NS)) >= getvariable('period_start'))
  AND (getvariable('period_end') IS NULL OR timezone('UTC', CAST(c.invoice_month AS TIMESTAMP_NS)) < getvariable('period_end'))
ORDER BY ChargePeriodStart, x_Family, ResourceId, x_Meter, x_IntervalId
