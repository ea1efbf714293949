/* strata
layer = "silver"
description = "One row per manager_id, latest version."
materialized = "incremental"
unique_key = ["manager_id"]

[[rules]]
type = "not_null"
column = "manager_id"
severity = "block"
*/
SELECT manager_id, trim(manager_name) AS manager_name, lower(trim(email)) AS email, store_id, hire_date, created_at, updated_at
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY manager_id ORDER BY updated_at DESC, _load_id DESC
    ) AS _row
    FROM bronze.sales_managers
) AS ranked
WHERE _row = 1
