-- The last 14 days with data (counted back from the newest sales day, so it also works on a
-- historical data set; Athena's version used current_date).
SELECT sales_date, total_transactions, total_items_sold, total_revenue, avg_transaction_value,
       unique_customers
FROM shopease.daily_sales_summary
WHERE sales_date > (SELECT max(sales_date) FROM shopease.daily_sales_summary) - INTERVAL '14 days'
ORDER BY sales_date DESC
