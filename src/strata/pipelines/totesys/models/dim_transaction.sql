/* strata
layer = "gold"
description = "Transactions: type SALE or PURCHASE and the order each refers to, SCD type 1 (merged incrementally: only rows changed since the last build)."
materialized = "incremental"
unique_key = ["transaction_id"]

[[rules]]
type = "accepted_values"
column = "transaction_type"
values = ["SALE", "PURCHASE"]
*/
SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id, last_updated
FROM silver."transaction"
{% if is_incremental() %}
WHERE last_updated > (SELECT coalesce(max(last_updated), TIMESTAMP '1970-01-01') FROM {{ this }})
{% endif %}
