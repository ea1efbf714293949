/* strata
layer = "gold"
description = "Total sales per customer and month (the seed's customers_data_mart; sales_date_month is YYYY-MM as the seed's code writes it)."
materialized = "table"
unique_key = ["customer_id", "sales_date_month"]

[[rules]]
type = "unique"
columns = ["customer_id", "sales_date_month"]
severity = "block"

[metrics]
rows = "count(*)"
customers = "count(DISTINCT customer_id)"
total_sales = "sum(total_sales)"
*/
SELECT
    s.customer_id,
    c.first_name || ' ' || c.last_name AS full_name,
    c.address,
    c.phone_number,
    s.sales_month AS sales_date_month,
    CAST(sum(s.total_cost) AS DECIMAL(18, 2)) AS total_sales
FROM silver.sales AS s
INNER JOIN silver.customer AS c ON c.customer_id = s.customer_id
GROUP BY s.customer_id, c.first_name, c.last_name, c.address, c.phone_number, s.sales_month
