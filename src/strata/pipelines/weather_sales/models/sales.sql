/* strata
layer = "silver"
description = "One row per sales transaction, typed: sale_date (`YYYYMMDD HH:MM:SS`) becomes sale_ts and date_key; latest upload wins per (date_key, transaction_id): the seed numbers transactions per daily file, so an id repeats across days. Unknown stores and unparseable timestamps are quarantined."
materialized = "incremental"
unique_key = ["date_key", "transaction_id"]
partition_by = ["date_key"]

[[rules]]
type = "not_null"
column = "transaction_id"
severity = "block"

[[rules]]
name = "sale_date_parses"
type = "not_null"
column = "sale_ts"
severity = "block"

[[rules]]
type = "relationships"
column = "store_id"
to = "silver.stores"
severity = "block"

[[rules]]
type = "relationships"
column = "product_id"
to = "silver.products"

[[rules]]
type = "range"
column = "units_sold"
min = 1

[metrics]
transactions = "count(*)"
sales_amount = "sum(sales_amount)"
days = "count(DISTINCT date_key)"
*/
WITH typed AS (
    SELECT
        trim(transaction_id) AS transaction_id,
        trim(store_id) AS store_id,
        TRY_CAST(
            substr(sale_date, 1, 4) || '-' || substr(sale_date, 5, 2) || '-'
            || substr(sale_date, 7, 2) || ' ' || substr(sale_date, 10) AS TIMESTAMP
        ) AS sale_ts,
        trim(product_id) AS product_id,
        product_name,
        units_sold,
        sales_amount,
        _source_file AS source_file,
        _source_line AS source_line,
        _load_id AS load_id
    FROM bronze.sales
),
latest AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (
            PARTITION BY CAST(sale_ts AS DATE), transaction_id
            ORDER BY load_id DESC, source_line DESC
        ) AS _row
        FROM typed
    ) AS ranked
    WHERE _row = 1
)
SELECT
    transaction_id,
    store_id,
    sale_ts,
    CAST(sale_ts AS DATE) AS date_key,
    product_id,
    product_name,
    units_sold,
    sales_amount,
    source_file,
    source_line,
    load_id
FROM latest
