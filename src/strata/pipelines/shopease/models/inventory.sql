/* strata
layer = "silver"
description = "One row per inventory_id, latest version."
materialized = "incremental"
unique_key = ["inventory_id"]

[[rules]]
type = "not_null"
column = "inventory_id"
severity = "block"
*/
SELECT inventory_id, store_id, product_id, quantity_on_hand, reorder_level, last_restocked_at, created_at, updated_at
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY inventory_id ORDER BY updated_at DESC, _load_id DESC
    ) AS _row
    FROM bronze.inventory
) AS ranked
WHERE _row = 1
