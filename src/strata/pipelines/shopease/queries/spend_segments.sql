-- The seed's spend segments: VIP >= 2000, High >= 1000, Medium >= 500, else Low.
SELECT
    spend_segment,
    count(*) AS customers,
    sum(total_spent) AS revenue,
    round(avg(total_spent), 2) AS avg_spent
FROM shopease.customer_analytics
GROUP BY spend_segment
ORDER BY min(total_spent) DESC
