/* strata
layer = "silver"
description = "totesys design: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["design_id"]

[[rules]]
type = "not_null"
column = "design_id"
severity = "block"
*/
SELECT design_id, design_name, file_location, file_name, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY design_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.design
) AS ranked
WHERE _row = 1
