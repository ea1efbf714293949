/* strata
layer = "silver"
description = "One row per sale: the seed's transactions_cleaned (total_amount, transaction_date, year/month/day), latest version per transaction_id; non-positive quantities or prices are quarantined."
materialized = "incremental"
unique_key = ["transaction_id"]
partition_by = ["year"]

[[rules]]
type = "not_null"
column = "transaction_id"
severity = "block"

[[rules]]
name = "positive_quantity"
type = "expression"
sql = "quantity > 0"
severity = "block"

[[rules]]
name = "positive_unit_price"
type = "expression"
sql = "unit_price > 0"
severity = "block"

[[rules]]
type = "not_null"
column = "transaction_date"
severity = "block"

[[rules]]
type = "accepted_values"
column = "sales_channel"
values = ["online", "in_store", "mobile_app"]

[[rules]]
type = "not_null"
column = "customer_id"

[metrics]
transactions = "count(*)"
revenue = "sum(total_amount)"
first_date = "CAST(min(transaction_date) AS VARCHAR)"
last_date = "CAST(max(transaction_date) AS VARCHAR)"
*/
WITH incoming AS (
    SELECT
        transaction_id,
        store_id,
        customer_id,
        product_id,
        quantity,
        CAST(round(unit_price, 2) AS DECIMAL(10, 2)) AS unit_price,
        CAST(round(quantity * unit_price, 2) AS DECIMAL(18, 2)) AS total_amount,
        payment_method,
        sales_channel,
        CAST(created_at AS DATE) AS transaction_date,
        CAST(year(created_at) AS INTEGER) AS year,
        CAST(month(created_at) AS INTEGER) AS month,
        CAST(day(created_at) AS INTEGER) AS day,
        created_at,
        updated_at,
        _load_id
    FROM bronze.sale_transactions
),
latest AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (
            PARTITION BY transaction_id ORDER BY updated_at DESC, _load_id DESC
        ) AS _row
        FROM incoming
    ) AS ranked
    WHERE _row = 1
)
SELECT transaction_id, store_id, customer_id, product_id, quantity, unit_price, total_amount,
       payment_method, sales_channel, transaction_date, year, month, day, created_at, updated_at
FROM latest
