/* strata
layer = "gold"
description = "Addresses as locations (address_id renamed location_id), SCD type 1."
materialized = "table"
unique_key = ["location_id"]
*/
SELECT
    address_id AS location_id,
    address_line_1,
    address_line_2,
    district,
    city,
    postal_code,
    country,
    phone
FROM silver.address
