/* strata
layer = "gold"
description = "Counterparties with their legal address (the seed's counterparty_legal_* columns), SCD type 1."
materialized = "table"
unique_key = ["counterparty_id"]
*/
SELECT
    c.counterparty_id,
    c.counterparty_legal_name,
    a.address_line_1 AS counterparty_legal_address_line_1,
    a.address_line_2 AS counterparty_legal_address_line_2,
    a.district AS counterparty_legal_district,
    a.city AS counterparty_legal_city,
    a.postal_code AS counterparty_legal_postal_code,
    a.country AS counterparty_legal_country,
    a.phone AS counterparty_legal_phone_number
FROM silver.counterparty AS c
LEFT JOIN silver.address AS a ON a.address_id = c.legal_address_id
