/* strata
layer = "silver"
description = "totesys counterparty: the latest version of each row (SCD type 1)."
materialized = "incremental"
unique_key = ["counterparty_id"]

[[rules]]
type = "not_null"
column = "counterparty_id"
severity = "block"
*/
SELECT counterparty_id, counterparty_legal_name, legal_address_id, commercial_contact, delivery_contact, created_at, last_updated
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY counterparty_id ORDER BY last_updated DESC, _load_id DESC
    ) AS _row
    FROM bronze.counterparty
) AS ranked
WHERE _row = 1
