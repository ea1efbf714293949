/* strata
layer = "gold"
description = "One row per version of a payment (payment_id, last_updated), with its payment date parsed."
materialized = "incremental"
unique_key = ["payment_id", "last_updated_date", "last_updated_time"]
*/
SELECT
    payment_id,
    CAST(created_at AS DATE) AS created_date,
    strftime(created_at, '%H:%M:%S.%f') AS created_time,
    CAST(last_updated AS DATE) AS last_updated_date,
    strftime(last_updated, '%H:%M:%S.%f') AS last_updated_time,
    transaction_id,
    counterparty_id,
    CAST(round(payment_amount, 2) AS DECIMAL(10, 2)) AS payment_amount,
    currency_id,
    payment_type_id,
    paid,
    TRY_CAST(payment_date AS DATE) AS payment_date,
    company_ac_number,
    counterparty_ac_number,
    last_updated
FROM silver.payment
{% if is_incremental() %}
WHERE last_updated > (SELECT coalesce(max(last_updated), TIMESTAMP '1970-01-01') FROM {{ this }})
{% endif %}
