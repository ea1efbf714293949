/* strata
layer = "silver"
description = "totesys payment: every version the extracts saw, one row per (payment_id, last_updated) — the facts keep history."
materialized = "incremental"
unique_key = ["payment_id", "last_updated"]

[[rules]]
type = "not_null"
column = "payment_id"
severity = "block"

[[rules]]
type = "not_null"
column = "last_updated"
severity = "block"
*/
SELECT payment_id, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY payment_id, last_updated ORDER BY _load_id DESC
    ) AS _row
    FROM bronze.payment
) AS ranked
WHERE _row = 1
