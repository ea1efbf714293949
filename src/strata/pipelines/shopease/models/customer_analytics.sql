/* strata
layer = "gold"
description = "Per customer: the seed's purchase totals plus RFM scoring (recency, frequency, monetary quintile scores 1-5, named segment) and the seed's spend segments."
materialized = "table"
unique_key = ["customer_id"]  # the warehouse table's primary key

[[rules]]
type = "unique"
columns = ["customer_id"]
severity = "block"

[[rules]]
type = "range"
column = "r_score"
min = 1
max = 5
severity = "block"

[[rules]]
type = "accepted_values"
column = "spend_segment"
values = ["VIP", "High", "Medium", "Low"]
severity = "block"

[metrics]
customers = "count(*)"
vip_customers = "count(*) FILTER (WHERE spend_segment = 'VIP')"
champions = "count(*) FILTER (WHERE rfm_segment = 'Champions')"
*/
-- Recency is measured from the last day with sales (the data's "as of" date), not from the
-- wall clock, so the same data always scores the same. Scores are quintiles by cume_dist:
-- equal values always get equal scores, whatever the row order.
WITH purchases AS (
    SELECT
        c.customer_id,
        c.customer_name,
        c.city,
        c.state,
        count(*) AS total_purchases,
        CAST(sum(t.quantity) AS BIGINT) AS total_items_bought,
        CAST(sum(t.total_amount) AS DECIMAL(18, 2)) AS total_spent,
        round(avg(t.total_amount), 2) AS avg_order_value,
        min(t.transaction_date) AS first_purchase_date,
        max(t.transaction_date) AS last_purchase_date
    FROM silver.customers AS c
    JOIN silver.transactions AS t ON t.customer_id = c.customer_id
    GROUP BY c.customer_id, c.customer_name, c.city, c.state
),
as_of AS (
    SELECT max(transaction_date) AS as_of_date FROM silver.transactions
),
scored AS (
    SELECT
        p.*,
        CAST(date_diff('day', p.last_purchase_date, a.as_of_date) AS INTEGER) AS recency_days,
        CAST(ceil(5 * cume_dist() OVER (ORDER BY p.last_purchase_date)) AS INTEGER) AS r_score,
        CAST(ceil(5 * cume_dist() OVER (ORDER BY p.total_purchases)) AS INTEGER) AS f_score,
        CAST(ceil(5 * cume_dist() OVER (ORDER BY p.total_spent)) AS INTEGER) AS m_score
    FROM purchases AS p
    CROSS JOIN as_of AS a
)
SELECT
    customer_id,
    customer_name,
    city,
    state,
    total_purchases,
    total_items_bought,
    total_spent,
    avg_order_value,
    first_purchase_date,
    last_purchase_date,
    recency_days,
    r_score,
    f_score,
    m_score,
    CASE
        WHEN r_score >= 4 AND f_score >= 4 AND m_score >= 4 THEN 'Champions'
        WHEN r_score <= 2 AND f_score >= 4 AND m_score >= 4 THEN 'Cannot Lose Them'
        WHEN r_score >= 3 AND f_score >= 4 THEN 'Loyal Customers'
        WHEN r_score >= 4 AND f_score >= 2 THEN 'Potential Loyalists'
        WHEN r_score >= 4 THEN 'New Customers'
        WHEN r_score = 3 AND f_score >= 3 THEN 'Need Attention'
        WHEN r_score = 3 THEN 'Promising'
        WHEN f_score >= 3 THEN 'At Risk'
        WHEN f_score = 2 THEN 'Hibernating'
        ELSE 'Lost'
    END AS rfm_segment,
    CASE
        WHEN total_spent >= 2000 THEN 'VIP'
        WHEN total_spent >= 1000 THEN 'High'
        WHEN total_spent >= 500 THEN 'Medium'
        ELSE 'Low'
    END AS spend_segment
FROM scored
