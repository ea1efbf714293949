/* strata
layer = "silver"
description = "totesys address: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["address_id"]

[[rules]]
type = "not_null"
column = "address_id"
severity = "block"
*/
SELECT address_id, address_line_1, address_line_2, district, city, postal_code, country, phone, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY address_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.address
) AS ranked
WHERE _row = 1
