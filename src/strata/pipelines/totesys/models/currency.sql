/* strata
layer = "silver"
description = "totesys currency: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["currency_id"]

[[rules]]
type = "not_null"
column = "currency_id"
severity = "block"
*/
SELECT currency_id, upper(trim(currency_code)) AS currency_code, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY currency_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.currency
) AS ranked
WHERE _row = 1
