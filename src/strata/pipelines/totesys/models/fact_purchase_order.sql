/* strata
layer = "gold"
description = "One row per version of a purchase order (purchase_order_id, last_updated), shaped like fact_sales_order."
materialized = "incremental"
unique_key = ["purchase_order_id", "last_updated_date", "last_updated_time"]
*/
SELECT
    purchase_order_id,
    CAST(created_at AS DATE) AS created_date,
    strftime(created_at, '%H:%M:%S.%f') AS created_time,
    CAST(last_updated AS DATE) AS last_updated_date,
    strftime(last_updated, '%H:%M:%S.%f') AS last_updated_time,
    staff_id,
    counterparty_id,
    item_code,
    item_quantity,
    CAST(round(item_unit_price, 2) AS DECIMAL(10, 2)) AS item_unit_price,
    currency_id,
    TRY_CAST(agreed_delivery_date AS DATE) AS agreed_delivery_date,
    TRY_CAST(agreed_payment_date AS DATE) AS agreed_payment_date,
    agreed_delivery_location_id,
    last_updated
FROM silver.purchase_order
{% if is_incremental() %}
WHERE last_updated > (SELECT coalesce(max(last_updated), TIMESTAMP '1970-01-01') FROM {{ this }})
{% endif %}
