/* strata
layer = "silver"
description = "The store master (raw/master/dim_store.csv) as last uploaded."
materialized = "table"
unique_key = ["store_id"]

[[rules]]
type = "unique"
columns = ["store_id"]
severity = "block"

[[rules]]
type = "range"
column = "latitude"
min = -90
max = 90
severity = "block"

[[rules]]
type = "range"
column = "longitude"
min = -180
max = 180
severity = "block"
*/
SELECT
    trim(store_id) AS store_id,
    city,
    province,
    CAST(latitude AS DOUBLE) AS latitude,
    CAST(longitude AS DOUBLE) AS longitude,
    "Region" AS region
FROM bronze.stores
WHERE _load_id = (SELECT max(_load_id) FROM bronze.stores)
