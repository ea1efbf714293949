-- Revenue, units and orders per product category.
SELECT
    category,
    count(*) AS products,
    sum(total_orders) AS total_orders,
    sum(total_quantity_sold) AS total_quantity_sold,
    sum(total_revenue) AS total_revenue
FROM shopease.product_performance
GROUP BY category
ORDER BY total_revenue DESC, category
