/* strata
layer = "silver"
description = "ISO 4217 currency codes and names (pycountry's data, loaded by the reference step)."
materialized = "table"
unique_key = ["currency_code"]
*/
SELECT currency_code, currency_name
FROM bronze.iso_currencies
WHERE _load_id = (SELECT max(_load_id) FROM bronze.iso_currencies)
