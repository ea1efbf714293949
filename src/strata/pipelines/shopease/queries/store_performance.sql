-- Transactions and revenue per store, by store name.
SELECT s.store_name, count(*) AS transactions, sum(t.total_amount) AS revenue
FROM silver.shopease.transactions AS t
JOIN silver.shopease.stores AS s ON t.store_id = s.store_id
GROUP BY s.store_name
ORDER BY revenue DESC, s.store_name
