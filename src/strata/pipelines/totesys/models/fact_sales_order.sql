/* strata
layer = "gold"
description = "One row per version of a sales order (sales_order_id, last_updated): created/last-updated split into date and time (time as HH:MM:SS.ffffff text), agreed dates parsed. The warehouse adds the sales_record_id surrogate key."
materialized = "incremental"
unique_key = ["sales_order_id", "last_updated_date", "last_updated_time"]

[[rules]]
type = "relationships"
column = "sales_staff_id"
to = "gold.dim_staff"
field = "staff_id"
severity = "block"

[[rules]]
type = "relationships"
column = "counterparty_id"
to = "gold.dim_counterparty"
severity = "block"

[metrics]
rows = "count(*)"
units_sold = "sum(units_sold)"
*/
SELECT
    sales_order_id,
    CAST(created_at AS DATE) AS created_date,
    strftime(created_at, '%H:%M:%S.%f') AS created_time,
    CAST(last_updated AS DATE) AS last_updated_date,
    strftime(last_updated, '%H:%M:%S.%f') AS last_updated_time,
    staff_id AS sales_staff_id,
    counterparty_id,
    units_sold,
    CAST(round(unit_price, 2) AS DECIMAL(10, 2)) AS unit_price,
    currency_id,
    design_id,
    TRY_CAST(agreed_payment_date AS DATE) AS agreed_payment_date,
    TRY_CAST(agreed_delivery_date AS DATE) AS agreed_delivery_date,
    agreed_delivery_location_id,
    last_updated
FROM silver.sales_order
{% if is_incremental() %}
WHERE last_updated > (SELECT coalesce(max(last_updated), TIMESTAMP '1970-01-01') FROM {{ this }})
{% endif %}
