/* strata
layer = "silver"
description = "One row per sales line of every accepted file, identified by the file's MD5 and the line number; a line whose customer, store, salesperson or product is not in the dimensions is quarantined with the key that failed (the seed's inner joins dropped it)."
materialized = "incremental"
unique_key = ["source_md5", "source_line"]
partition_by = ["sales_month"]

[[rules]]
type = "not_null"
column = "customer_id"
severity = "block"

[[rules]]
type = "not_null"
column = "store_id"
severity = "block"

[[rules]]
type = "not_null"
column = "sales_person_id"
severity = "block"

[[rules]]
type = "not_null"
column = "sales_date"
severity = "block"

[[rules]]
type = "not_null"
column = "total_cost"
severity = "block"

[[rules]]
type = "relationships"
column = "customer_id"
to = "silver.customer"
severity = "block"

[[rules]]
type = "relationships"
column = "store_id"
to = "silver.store"
field = "id"
severity = "block"

[[rules]]
type = "relationships"
column = "sales_person_id"
to = "silver.sales_team"
field = "id"
severity = "block"

[[rules]]
type = "relationships"
column = "product_name"
to = "silver.product"
field = "name"
severity = "block"

[[rules]]
name = "total_is_price_times_quantity"
type = "expression"
sql = "total_cost = price * quantity"

[metrics]
lines = "count(*)"
total_cost = "sum(total_cost)"
files = "count(DISTINCT source_md5)"
with_extra_columns = "count(extra_columns)"
*/
SELECT
    customer_id,
    store_id,
    product_name,
    sales_date,
    sales_person_id,
    price,
    quantity,
    total_cost,
    substr(CAST(sales_date AS VARCHAR), 1, 7) AS sales_month,
    additional_column,
    extra_columns,
    _source_file AS source_file,
    _source_line AS source_line,
    _source_md5 AS source_md5
FROM bronze.sales
