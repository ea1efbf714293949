-- Revenue per state, with revenue per customer.
SELECT
    state,
    count(*) AS customers,
    sum(total_spent) AS revenue,
    round(sum(total_spent) / count(*), 2) AS revenue_per_customer
FROM shopease.customer_analytics
GROUP BY state
ORDER BY revenue DESC, state
