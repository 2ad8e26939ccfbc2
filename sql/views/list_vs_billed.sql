-- list_vs_billed: per invoice month, tenant and currency, what the price book alone would have billed beside what the contracts billed: the saving and the minimum's true-up
-- Inputs: invoice_lines (its usage lines, exact and rounded, and its Minimum true-up lines). One row per
-- tenant (NULL: unattributed) of every month billed; without a contracts file list and billed are equal
-- and contracts is NULL. list_amount and billed_amount sum the usage lines' rounded amounts (as the
-- invoice does); saved = list_amount - billed_amount (negative when a contract charges more than the list);
-- true_up is the monthly minimum's true-up line (0 when none); invoiced = billed_amount + true_up.
-- contracts names the contracts that priced the month's lines (space-separated, sorted).
WITH lines AS (
    SELECT
        invoice_month,
        tenant_id,
        currency,
        charge_class,
        amount,
        list_amount,
        contract_ids
    FROM invoice_lines
    WHERE charge_class IN ('Usage', 'Minimum')
),
named AS (
    SELECT invoice_month, tenant_id, currency, string_agg(DISTINCT c, ' ' ORDER BY c) AS contracts
    FROM (
        SELECT invoice_month, tenant_id, currency, unnest(string_split(contract_ids, ' ')) AS c
        FROM lines
        WHERE contract_ids IS NOT NULL
    )
    WHERE c <> ''
    GROUP BY ALL
)
SELECT
    l.invoice_month,
    l.tenant_id,
    l.currency,
    CAST(coalesce(sum(l.list_amount) FILTER (WHERE l.charge_class = 'Usage'), 0) AS DECIMAL(38, 12)) AS list_amount,
    CAST(coalesce(sum(l.amount) FILTER (WHERE l.charge_class = 'Usage'), 0) AS DECIMAL(38, 12)) AS billed_amount,
    CAST(
        coalesce(sum(l.list_amount - l.amount) FILTER (WHERE l.charge_class = 'Usage'), 0) AS DECIMAL(38, 12)
    ) AS saved,
    CAST(coalesce(sum(l.amount) FILTER (WHERE l.charge_class = 'Minimum'), 0) AS DECIMAL(38, 12)) AS true_up,
    CAST(sum(l.amount) AS DECIMAL(38, 12)) AS invoiced,
    any_value(n.contracts) AS contracts
FROM lines AS l
LEFT JOIN named AS n
    ON n.invoice_month = l.invoice_month AND n.tenant_id IS NOT DISTINCT FROM l.tenant_id AND n.currency = l.currency
GROUP BY l.invoice_month, l.tenant_id, l.currency
ORDER BY l.invoice_month, l.tenant_id NULLS LAST, l.currency
