/* strata
layer = "gold"
description = "Payment types (SALES_RECEIPT, SALES_REFUND, PURCHASE_PAYMENT, PURCHASE_REFUND), SCD type 1."
materialized = "table"
unique_key = ["payment_type_id"]
*/
SELECT payment_type_id, payment_type_name FROM silver.payment_type
