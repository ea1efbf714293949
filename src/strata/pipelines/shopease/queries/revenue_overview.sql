-- Revenue overview: total, average, best and worst daily revenue over all sales days.
SELECT
    count(*) AS sales_days,
    sum(total_revenue) AS total_revenue,
    round(avg(total_revenue), 2) AS avg_daily_revenue,
    max(total_revenue) AS max_daily_revenue,
    min(total_revenue) AS min_daily_revenue
FROM shopease.daily_sales_summary
