/* strata
layer = "silver"
description = "totesys sales_order: every version the extracts saw, one row per (sales_order_id, last_updated) — the facts keep history."
materialized = "incremental"
unique_key = ["sales_order_id", "last_updated"]

[[rules]]
type = "not_null"
column = "sales_order_id"
severity = "block"

[[rules]]
type = "not_null"
column = "last_updated"
severity = "block"
*/
SELECT sales_order_id, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY sales_order_id, last_updated ORDER BY _load_id DESC
    ) AS _row
    FROM bronze.sales_order
) AS ranked
WHERE _row = 1
