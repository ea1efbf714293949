/* strata
layer = "silver"
description = "One row per customer: the seed's cleaning (name TRIM+UPPER, email LOWER+TRIM), exact duplicates removed, latest version per customer_id."
materialized = "incremental"
unique_key = ["customer_id"]

[[rules]]
type = "not_null"
column = "customer_id"
severity = "block"

[[rules]]
name = "customer_name_present"
type = "not_null"
column = "customer_name"
severity = "block"

[[rules]]
name = "email_present"
type = "not_null"
column = "email"
severity = "block"

[[rules]]
name = "email_format"
type = "regex"
column = "email"
pattern = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"

[[rules]]
name = "state_code"
type = "regex"
column = "state"
pattern = "^[A-Z]{2}$"

[metrics]
customers = "count(*)"
states = "count(DISTINCT state)"
*/
WITH incoming AS (
    SELECT
        customer_id,
        nullif(upper(trim(customer_name)), '') AS customer_name,
        nullif(lower(trim(email)), '') AS email,
        trim(phone) AS phone,
        trim(address) AS address,
        trim(city) AS city,
        upper(trim(state)) AS state,
        trim(zip_code) AS zip_code,
        created_at,
        updated_at,
        _load_id
    FROM bronze.customers
),
latest AS (
    SELECT * FROM (
        SELECT *, row_number() OVER (
            PARTITION BY customer_id ORDER BY updated_at DESC, _load_id DESC
        ) AS _row
        FROM incoming
    ) AS ranked
    WHERE _row = 1
)
SELECT customer_id, customer_name, email, phone, address, city, state, zip_code, created_at,
       updated_at
FROM latest
