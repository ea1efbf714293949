/* strata
layer = "gold"
description = "Per sensor and month: average temperature, total precipitation, days per category."
materialized = "table"
unique_key = ["sensor_id", "month"]

[[rules]]
type = "unique"
columns = ["sensor_id", "month"]
severity = "block"

[[rules]]
type = "expression"
name = "category_days_add_up"
sql = "freezing_days + cold_days + mild_days + warm_days + hot_days + unknown_days = days"
severity = "block"
*/
SELECT
    sensor_id,
    region,
    strftime(dt, '%Y-%m') AS month,
    count(*) AS days,
    avg(temperature_avg) AS avg_temperature,
    min(temperature_min) AS min_temperature,
    max(temperature_max) AS max_temperature,
    sum(precipitation) AS total_precipitation,
    count(*) FILTER (WHERE precipitation > 0) AS wet_days,
    count(*) FILTER (WHERE temp_category = 'freezing') AS freezing_days,
    count(*) FILTER (WHERE temp_category = 'cold') AS cold_days,
    count(*) FILTER (WHERE temp_category = 'mild') AS mild_days,
    count(*) FILTER (WHERE temp_category = 'warm') AS warm_days,
    count(*) FILTER (WHERE temp_category = 'hot') AS hot_days,
    count(*) FILTER (WHERE temp_category = 'unknown') AS unknown_days
FROM silver.sensor_readings
GROUP BY sensor_id, region, strftime(dt, '%Y-%m')
