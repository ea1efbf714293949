/* strata
layer = "silver"
description = "The product master (raw/master/dim_product.csv) as last uploaded."
materialized = "table"
unique_key = ["product_id"]

[[rules]]
type = "unique"
columns = ["product_id"]
severity = "block"
*/
SELECT
    trim(id) AS product_id,
    name AS product_name,
    CAST(price AS DECIMAL(10, 2)) AS price,
    category
FROM bronze.products
WHERE _load_id = (SELECT max(_load_id) FROM bronze.products)
