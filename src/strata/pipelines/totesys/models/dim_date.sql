/* strata
layer = "gold"
description = "One row per calendar day from 2020-01-01 to 2035-12-31 (the seed generated 2020-2025): day_of_week 0 = Monday as the seed's pandas dayofweek. Rebuilt only when its definition changes."
materialized = "table"
unique_key = ["date_id"]

[[rules]]
type = "unique"
columns = ["date_id"]
severity = "block"
*/
WITH series AS (
    SELECT unnest(generate_series(DATE '2020-01-01', DATE '2035-12-31', INTERVAL 1 DAY)) AS d
),
days AS (
    SELECT CAST(d AS DATE) AS date_id FROM series
)
SELECT
    date_id,
    CAST(year(date_id) AS INTEGER) AS year,
    CAST(month(date_id) AS INTEGER) AS month,
    CAST(day(date_id) AS INTEGER) AS day,
    -- Monday = 0 (2018-01-01 was a Monday); isodow() does not transpile faithfully to Spark.
    CAST(date_diff('day', DATE '2018-01-01', date_id) % 7 AS INTEGER) AS day_of_week,
    strftime(date_id, '%A') AS day_name,
    strftime(date_id, '%B') AS month_name,
    CAST(quarter(date_id) AS INTEGER) AS quarter
FROM days
