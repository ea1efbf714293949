/* strata
layer = "silver"
description = "The product dimension as of its latest extract (the seed's `product` table)."
materialized = "table"
unique_key = ["id"]

[[rules]]
type = "unique"
columns = ["id"]
severity = "block"

[[rules]]
type = "unique"
columns = ["name"]
severity = "block"
*/
SELECT id, name, current_price, old_price, created_date, updated_date, expiry_date
FROM bronze.product
WHERE _load_id = (SELECT max(_load_id) FROM bronze.product)
