/* strata
layer = "gold"
description = "Each sale with its store's weather that day (the seed's fact_daily_sales_weather). Sales without weather are kept with has_weather = false (the seed's inner join dropped them); a day is rebuilt when its sales or its weather change."
materialized = "incremental"
incremental_strategy = "replace_partitions"
unique_key = ["date_key", "transaction_id"]
partition_by = ["date_key"]

[[rules]]
type = "unique"
columns = ["date_key", "transaction_id"]
severity = "block"

[metrics]
rows = "count(*)"
without_weather = "count(*) FILTER (WHERE NOT has_weather)"
sales_amount = "sum(sales_amount)"
*/
WITH
{% if is_incremental() %}
touched AS (
    SELECT date_key FROM silver.sales
    WHERE load_id > (SELECT coalesce(max(sales_load_id), 0) FROM {{ this }})
    UNION
    SELECT date_key FROM silver.weather
    WHERE load_id > (SELECT coalesce(max(weather_load_id), 0) FROM {{ this }})
),
{% endif %}
sales AS (
    SELECT * FROM silver.sales
    {% if is_incremental() %}WHERE date_key IN (SELECT date_key FROM touched){% endif %}
)
SELECT
    s.store_id,
    s.date_key,
    s.transaction_id,
    s.product_id,
    s.product_name,
    s.units_sold,
    s.sales_amount,
    w.temp_celsius AS temperature_celsius,
    w.humidity_percent,
    w.wind_speed,
    w.weather_main AS weather_condition,
    w.weather_desc AS weather_description,
    s.sale_ts,
    s.date_key AS sale_date,
    w.store_id IS NOT NULL AS has_weather,
    s.load_id AS sales_load_id,
    w.load_id AS weather_load_id
FROM sales AS s
LEFT JOIN silver.weather AS w ON w.store_id = s.store_id AND w.date_key = s.date_key
