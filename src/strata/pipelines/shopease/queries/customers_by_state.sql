-- Customers with purchases, per state.
SELECT state, count(*) AS customers, sum(total_purchases) AS purchases
FROM shopease.customer_analytics
GROUP BY state
ORDER BY customers DESC, state
