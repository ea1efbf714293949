/* strata
layer = "silver"
description = "The store dimension as of its latest extract (the seed's `store` table)."
materialized = "table"
unique_key = ["id"]

[[rules]]
type = "unique"
columns = ["id"]
severity = "block"
*/
SELECT id, address, store_pincode, store_manager_name, store_opening_date, reviews
FROM bronze.store
WHERE _load_id = (SELECT max(_load_id) FROM bronze.store)
