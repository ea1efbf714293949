-- Monthly revenue trend.
SELECT
    CAST(date_trunc('month', sales_date) AS DATE) AS month,
    sum(total_transactions) AS transactions,
    sum(total_revenue) AS revenue,
    sum(total_items_sold) AS items_sold
FROM shopease.daily_sales_summary
GROUP BY 1
ORDER BY 1
