/* strata
layer = "silver"
description = "totesys payment_type: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["payment_type_id"]

[[rules]]
type = "not_null"
column = "payment_type_id"
severity = "block"
*/
SELECT payment_type_id, payment_type_name, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY payment_type_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.payment_type
) AS ranked
WHERE _row = 1
