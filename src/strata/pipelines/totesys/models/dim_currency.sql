/* strata
layer = "gold"
description = "Currencies with their ISO 4217 names (from pycountry's maintained ISO 4217 data, written by the reference step), SCD type 1."
materialized = "table"
unique_key = ["currency_id"]

[[rules]]
type = "not_null"
column = "currency_name"
*/
SELECT c.currency_id, c.currency_code, i.currency_name
FROM silver.currency AS c
LEFT JOIN silver.iso_currencies AS i ON i.currency_code = c.currency_code
