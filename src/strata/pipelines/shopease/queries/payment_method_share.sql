-- Each payment method's share of transactions and revenue (percent of the total).
SELECT
    payment_method,
    count(*) AS transactions,
    sum(total_amount) AS revenue,
    round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct_transactions,
    round(100.0 * sum(total_amount) / sum(sum(total_amount)) OVER (), 2) AS pct_revenue
FROM silver.shopease.transactions
GROUP BY payment_method
ORDER BY revenue DESC, payment_method
