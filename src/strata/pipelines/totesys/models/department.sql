/* strata
layer = "silver"
description = "totesys department: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["department_id"]

[[rules]]
type = "not_null"
column = "department_id"
severity = "block"
*/
SELECT department_id, department_name, location, manager, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY department_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.department
) AS ranked
WHERE _row = 1
