/* strata
layer = "gold"
description = "Per sales day: transactions, items, revenue, average transaction value, distinct customers and products (the seed's daily_sales_summary)."
materialized = "table"
unique_key = ["sales_date"]  # the warehouse table's primary key

[[rules]]
type = "unique"
columns = ["sales_date"]
severity = "block"

[metrics]
days = "count(*)"
revenue = "sum(total_revenue)"
*/
SELECT
    transaction_date AS sales_date,
    count(*) AS total_transactions,
    CAST(sum(quantity) AS BIGINT) AS total_items_sold,
    CAST(sum(total_amount) AS DECIMAL(18, 2)) AS total_revenue,
    round(avg(total_amount), 2) AS avg_transaction_value,
    count(DISTINCT customer_id) AS unique_customers,
    count(DISTINCT product_id) AS unique_products
FROM silver.transactions
GROUP BY transaction_date
