/* strata
layer = "silver"
description = "One row per sensor and day: the seed's transformations, deduplicated, with regional window aggregates."
materialized = "incremental"
unique_key = ["dt", "sensor_id"]
partition_by = ["dt"]

[[rules]]
type = "not_null"
column = "sensor_id"
severity = "block"

[[rules]]
type = "not_null"
column = "dt"
severity = "block"

[[rules]]
type = "range"
column = "latitude"
min = -90
max = 90
severity = "block"

[[rules]]
type = "range"
column = "longitude"
min = -180
max = 180
severity = "block"

[[rules]]
type = "range"
column = "precipitation"
min = 0
severity = "block"

[[rules]]
type = "range"
column = "temperature_max"
min = -90
max = 60

[[rules]]
name = "max_not_below_min"
type = "expression"
sql = "temperature_max >= temperature_min"

[[rules]]
type = "accepted_values"
column = "temp_category"
values = ["freezing", "cold", "mild", "warm", "hot", "unknown"]
severity = "block"

[[rules]]
type = "not_null"
column = "temperature_avg"

[[rules]]
type = "not_null"
column = "precipitation"

[metrics]
total_rows = "count(*)"
complete_rows = "count(*) FILTER (WHERE is_complete)"
completeness_rate = "round(100.0 * count(*) FILTER (WHERE is_complete) / nullif(count(*), 0), 2)"
null_temperature_count = "count(*) FILTER (WHERE temperature_avg IS NULL)"
null_precipitation_count = "count(*) FILTER (WHERE precipitation IS NULL)"
*/
WITH responses AS (
    SELECT sensor_id, region, latitude, longitude, fetched_at, response.daily AS daily
    FROM bronze.responses
),
incoming AS (
    SELECT
        CAST(unnest(daily."time") AS DATE) AS dt,
        sensor_id,
        region,
        CAST(latitude AS DOUBLE) AS latitude,
        CAST(longitude AS DOUBLE) AS longitude,
        CAST(unnest(daily.temperature_2m_max) AS DOUBLE) AS temperature_max,
        CAST(unnest(daily.temperature_2m_min) AS DOUBLE) AS temperature_min,
        CAST(unnest(daily.precipitation_sum) AS DOUBLE) AS precipitation,
        'open-meteo' AS source,
        CAST(fetched_at AS TIMESTAMP) AS ingestion_timestamp
    FROM responses
),
candidates AS (
    SELECT * FROM incoming
{% if is_incremental() %}
    -- Rows already in silver for the days this batch touches: the regional aggregates of a
    -- (region, day) must be recomputed over all of its sensors, not just the new ones.
    UNION ALL
    SELECT dt, sensor_id, region, latitude, longitude, temperature_max, temperature_min,
           precipitation, source, ingestion_timestamp
    FROM {{ this }}
    WHERE dt IN (SELECT DISTINCT dt FROM incoming)
{% endif %}
),
latest AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (
            PARTITION BY dt, sensor_id ORDER BY ingestion_timestamp DESC
        ) AS _row
        FROM candidates
    ) AS ranked
    WHERE _row = 1
),
derived AS (
    SELECT
        *,
        temperature_max * 9.0 / 5.0 + 32 AS temperature_max_f,
        temperature_min * 9.0 / 5.0 + 32 AS temperature_min_f,
        (temperature_max + temperature_min) / 2.0 AS temperature_avg,
        temperature_max - temperature_min AS temperature_range,
        temperature_max IS NOT NULL
            AND temperature_min IS NOT NULL
            AND precipitation IS NOT NULL AS is_complete
    FROM latest
)
SELECT
    dt,
    sensor_id,
    region,
    latitude,
    longitude,
    temperature_max,
    temperature_min,
    precipitation,
    temperature_max_f,
    temperature_min_f,
    temperature_avg,
    temperature_range,
    CASE
        WHEN temperature_avg IS NULL THEN 'unknown'
        WHEN temperature_avg < 0 THEN 'freezing'
        WHEN temperature_avg < 10 THEN 'cold'
        WHEN temperature_avg < 20 THEN 'mild'
        WHEN temperature_avg < 30 THEN 'warm'
        ELSE 'hot'
    END AS temp_category,
    CASE
        WHEN precipitation IS NULL THEN 'unknown'
        WHEN precipitation = 0 THEN 'none'
        WHEN precipitation < 2.5 THEN 'light'
        WHEN precipitation < 10 THEN 'moderate'
        WHEN precipitation < 50 THEN 'heavy'
        ELSE 'extreme'
    END AS precipitation_level,
    is_complete,
    CASE
        WHEN is_complete THEN 100
        WHEN temperature_avg IS NOT NULL THEN 75
        ELSE 25
    END AS data_quality_score,
    avg(temperature_avg) OVER (PARTITION BY region, dt) AS region_avg_temp,
    sum(precipitation) OVER (PARTITION BY region, dt) AS region_total_precipitation,
    source,
    ingestion_timestamp,
    CAST(current_timestamp AS TIMESTAMP) AS processed_at,
    '1.0' AS processing_version
FROM derived
