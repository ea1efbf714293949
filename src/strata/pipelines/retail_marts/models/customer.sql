/* strata
layer = "silver"
description = "The customer dimension as of its latest extract (the seed's `customer` table)."
materialized = "table"
unique_key = ["customer_id"]

[[rules]]
type = "unique"
columns = ["customer_id"]
severity = "block"
*/
SELECT customer_id, first_name, last_name, address, pincode, phone_number, customer_joining_date
FROM bronze.customer
WHERE _load_id = (SELECT max(_load_id) FROM bronze.customer)
