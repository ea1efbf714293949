-- Customers and revenue per RFM segment (not in the seed: its "RFM analysis" had no scores).
SELECT
    rfm_segment,
    count(*) AS customers,
    round(avg(recency_days), 1) AS avg_recency_days,
    round(avg(total_purchases), 1) AS avg_purchases,
    sum(total_spent) AS revenue
FROM shopease.customer_analytics
GROUP BY rfm_segment
ORDER BY revenue DESC, rfm_segment
