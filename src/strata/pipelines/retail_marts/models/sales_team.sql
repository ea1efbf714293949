/* strata
layer = "silver"
description = "The sales team as of its latest extract (the seed's `sales_team` table)."
materialized = "table"
unique_key = ["id"]

[[rules]]
type = "unique"
columns = ["id"]
severity = "block"
*/
SELECT id, first_name, last_name, manager_id, is_manager, address, pincode, joining_date
FROM bronze.sales_team
WHERE _load_id = (SELECT max(_load_id) FROM bronze.sales_team)
