/* strata
layer = "gold"
description = "Designs, SCD type 1."
materialized = "table"
unique_key = ["design_id"]
*/
SELECT design_id, design_name, file_location, file_name FROM silver.design
