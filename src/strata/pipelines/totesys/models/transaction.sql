/* strata
layer = "silver"
description = "totesys transaction: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["transaction_id"]

[[rules]]
type = "not_null"
column = "transaction_id"
severity = "block"
*/
SELECT transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY transaction_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.transaction
) AS ranked
WHERE _row = 1
