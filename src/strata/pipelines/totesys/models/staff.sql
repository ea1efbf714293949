/* strata
layer = "silver"
description = "totesys staff: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["staff_id"]

[[rules]]
type = "not_null"
column = "staff_id"
severity = "block"
*/
SELECT staff_id, first_name, last_name, department_id, email_address, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY staff_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.staff
) AS ranked
WHERE _row = 1
