/* strata
layer = "silver"
description = "One row per product: name/description trimmed, category TRIM+UPPER, price rounded to cents; rows without a name or with a non-positive price are quarantined."
materialized = "incremental"
unique_key = ["product_id"]

[[rules]]
type = "not_null"
column = "product_id"
severity = "block"

[[rules]]
name = "product_name_present"
type = "not_null"
column = "product_name"
severity = "block"

[[rules]]
name = "positive_price"
type = "expression"
sql = "price > 0"
severity = "block"

[metrics]
products = "count(*)"
categories = "count(DISTINCT category)"
*/
WITH incoming AS (
    SELECT
        product_id,
        nullif(trim(product_name), '') AS product_name,
        upper(trim(category)) AS category,
        CAST(round(price, 2) AS DECIMAL(10, 2)) AS price,
        trim(description) AS description,
        created_at,
        updated_at,
        _load_id
    FROM bronze.products
),
latest AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (
            PARTITION BY product_id ORDER BY updated_at DESC, _load_id DESC
        ) AS _row
        FROM incoming
    ) AS ranked
    WHERE _row = 1
)
SELECT product_id, product_name, category, price, description, created_at, updated_at
FROM latest
