-- The ten best-selling products by revenue.
SELECT product_id, product_name, category, total_revenue, total_quantity_sold, total_orders
FROM shopease.product_performance
ORDER BY total_revenue DESC, product_id
LIMIT 10
