/* strata
layer = "silver"
description = "One row per store_id, latest version."
materialized = "incremental"
unique_key = ["store_id"]

[[rules]]
type = "not_null"
column = "store_id"
severity = "block"
*/
SELECT store_id, trim(store_name) AS store_name, trim(city) AS city, upper(trim(state)) AS state, opened_on, created_at, updated_at
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY store_id ORDER BY updated_at DESC, _load_id DESC
    ) AS _row
    FROM bronze.stores
) AS ranked
WHERE _row = 1
