/* strata
layer = "gold"
description = "Staff with their department's name and location, SCD type 1."
materialized = "table"
unique_key = ["staff_id"]

[[rules]]
type = "not_null"
column = "department_name"
*/
SELECT
    s.staff_id,
    s.first_name,
    s.last_name,
    d.department_name,
    d.location,
    s.email_address
FROM silver.staff AS s
LEFT JOIN silver.department AS d ON d.department_id = s.department_id
