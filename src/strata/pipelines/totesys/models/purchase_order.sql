/* strata
layer = "silver"
description = "totesys purchase_order: every version the extracts saw, one row per (purchase_order_id, last_updated) — the facts keep history."
materialized = "incremental"
unique_key = ["purchase_order_id", "last_updated"]

[[rules]]
type = "not_null"
column = "purchase_order_id"
severity = "block"

[[rules]]
type = "not_null"
column = "last_updated"
severity = "block"
*/
SELECT purchase_order_id, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY purchase_order_id, last_updated ORDER BY _load_id DESC
    ) AS _row
    FROM bronze.purchase_order
) AS ranked
WHERE _row = 1
