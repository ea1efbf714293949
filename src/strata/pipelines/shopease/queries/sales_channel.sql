-- Transactions, revenue and average order value per sales channel.
SELECT
    sales_channel,
    count(*) AS transactions,
    sum(total_amount) AS revenue,
    round(avg(total_amount), 2) AS avg_order_value
FROM silver.shopease.transactions
GROUP BY sales_channel
ORDER BY revenue DESC, sales_channel
