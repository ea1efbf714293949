/* strata
layer = "silver"
description = "Weather per store and day from the current-weather responses (the seed's silver weather: temp_celsius, humidity_percent, wind_speed, weather_main, weather_desc, observed_at from dt, milliseconds detected); the latest fetch wins."
materialized = "incremental"
unique_key = ["store_id", "date_key"]

[[rules]]
type = "not_null"
column = "temp_celsius"
severity = "block"

[[rules]]
type = "range"
column = "humidity_percent"
min = 0
max = 100
*/
WITH parsed AS (
    SELECT
        store_id,
        CAST(date_key AS DATE) AS date_key,
        CAST(response.main.temp AS DOUBLE) AS temp_celsius,
        CAST(response.main.humidity AS INTEGER) AS humidity_percent,
        CAST(response.wind.speed AS DOUBLE) AS wind_speed,
        response.weather[1].main AS weather_main,
        response.weather[1].description AS weather_desc,
        CAST(response.dt AS BIGINT) AS dt,
        fetched_at,
        _load_id AS load_id
    FROM bronze.weather
),
latest AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (
            PARTITION BY store_id, date_key ORDER BY load_id DESC, fetched_at DESC
        ) AS _row
        FROM parsed
    ) AS ranked
    WHERE _row = 1
)
SELECT
    store_id,
    date_key,
    temp_celsius,
    humidity_percent,
    wind_speed,
    weather_main,
    weather_desc,
    CAST(to_timestamp(CASE WHEN dt > 1000000000000 THEN dt / 1000 ELSE dt END) AS TIMESTAMP)
        AS observed_at,
    load_id
FROM latest
