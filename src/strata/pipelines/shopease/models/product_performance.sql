/* strata
layer = "gold"
description = "Per product: orders, units, revenue, average order value and quantity (the seed's product_performance; products joined with their valid sales)."
materialized = "table"
unique_key = ["product_id"]  # the warehouse table's primary key

[[rules]]
type = "unique"
columns = ["product_id"]
severity = "block"

[metrics]
products = "count(*)"
revenue = "sum(total_revenue)"
*/
SELECT
    p.product_id,
    p.product_name,
    p.category,
    count(t.transaction_id) AS total_orders,
    CAST(sum(t.quantity) AS BIGINT) AS total_quantity_sold,
    CAST(sum(t.total_amount) AS DECIMAL(18, 2)) AS total_revenue,
    round(avg(t.total_amount), 2) AS avg_order_value,
    round(avg(t.quantity), 2) AS avg_quantity_per_order
FROM silver.products AS p
JOIN silver.transactions AS t ON t.product_id = p.product_id
GROUP BY p.product_id, p.product_name, p.category
