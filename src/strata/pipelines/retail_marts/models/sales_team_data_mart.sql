/* strata
layer = "gold"
description = "Total sales per salesperson and month, ranked within store and month; rank 1 (ties included) earns round(total_sales * 0.01, 2) as incentive (the seed's sales_team_data_mart), partitioned by sales_month and store_id."
materialized = "table"
unique_key = ["store_id", "sales_person_id", "sales_month"]
partition_by = ["sales_month", "store_id"]

[[rules]]
type = "unique"
columns = ["store_id", "sales_person_id", "sales_month"]
severity = "block"

[metrics]
rows = "count(*)"
total_sales = "sum(total_sales)"
incentives = "sum(incentive)"
*/
WITH totals AS (
    SELECT
        store_id,
        sales_person_id,
        sales_month,
        CAST(sum(total_cost) AS DECIMAL(18, 2)) AS total_sales
    FROM silver.sales
    GROUP BY store_id, sales_person_id, sales_month
),
ranked AS (
    SELECT
        *,
        rank() OVER (PARTITION BY store_id, sales_month ORDER BY total_sales DESC) AS sales_rank
    FROM totals
)
SELECT
    r.store_id,
    r.sales_person_id,
    t.first_name || ' ' || t.last_name AS full_name,
    r.sales_month,
    r.total_sales,
    CASE
        WHEN r.sales_rank = 1 THEN CAST(round(r.total_sales * 0.01, 2) AS DECIMAL(18, 2))
        ELSE CAST(0 AS DECIMAL(18, 2))
    END AS incentive,
    CAST(r.sales_rank AS INTEGER) AS sales_rank
FROM ranked AS r
INNER JOIN silver.sales_team AS t ON t.id = r.sales_person_id
