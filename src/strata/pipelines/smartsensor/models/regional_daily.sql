/* strata
layer = "gold"
description = "Per region and day: sensors reporting, temperatures, precipitation, completeness."
materialized = "table"
unique_key = ["region", "dt"]

[[rules]]
type = "unique"
columns = ["region", "dt"]
severity = "block"

[[rules]]
type = "range"
column = "complete_share"
min = 0
max = 1
severity = "block"
*/
SELECT
    region,
    dt,
    count(*) AS sensors,
    avg(temperature_avg) AS avg_temperature,
    min(temperature_min) AS min_temperature,
    max(temperature_max) AS max_temperature,
    sum(precipitation) AS total_precipitation,
    avg(precipitation) AS avg_precipitation,
    avg(CASE WHEN is_complete THEN 1.0 ELSE 0.0 END) AS complete_share,
    avg(data_quality_score) AS avg_quality_score
FROM silver.sensor_readings
GROUP BY region, dt
