"""ShopEase end to end through the CLI, on the real local PostgreSQL.

Every gold table, every warehouse table and every shipped Athena query is compared with the
same figures computed by SQL directly on the source database (reference views written here,
independently of the pipeline's models). Then the source changes (new, updated and back-dated
rows) and the next run must read only the changes and still match, and equal a full rebuild.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
import pytest
import sqlglot

from strata.config import load_settings
from strata.lake.bronze import Bronze
from strata.lake.delta import DeltaTableIO
from strata.lake.storage import Lake
from strata.pipelines.shopease.generate import apply_changes
from strata.session import query
from tests.e2e.test_cli import strata

QUERIES = Path(__file__).parents[2] / "src/strata/pipelines/shopease/queries"
GOLD = {
    "daily_sales_summary": "sales_date",
    "product_performance": "product_id",
    "customer_analytics": "customer_id",
}

# The seed's cleaning rules, written directly against the source tables.
REFERENCE_VIEWS = [
    """CREATE VIEW ref.customers AS
    SELECT * FROM (
        SELECT DISTINCT ON (customer_id) customer_id,
               NULLIF(upper(btrim(customer_name)), '') AS customer_name,
               NULLIF(lower(btrim(email)), '') AS email,
               btrim(city) AS city, upper(btrim(state)) AS state
        FROM public.customers ORDER BY customer_id, updated_at DESC
    ) c WHERE customer_name IS NOT NULL AND email IS NOT NULL""",
    """CREATE VIEW ref.products AS
    SELECT * FROM (
        SELECT DISTINCT ON (product_id) product_id, NULLIF(btrim(product_name), '') AS product_name,
               upper(btrim(category)) AS category, round(price, 2) AS price
        FROM public.products ORDER BY product_id, updated_at DESC
    ) p WHERE product_name IS NOT NULL AND price > 0""",
    "CREATE VIEW ref.stores AS SELECT store_id, btrim(store_name) AS store_name FROM stores",
    """CREATE VIEW ref.transactions AS
    SELECT transaction_id, store_id, customer_id, product_id, quantity, unit_price,
           round(quantity * unit_price, 2) AS total_amount, payment_method, sales_channel,
           created_at::date AS transaction_date
    FROM public.sale_transactions WHERE quantity > 0 AND unit_price > 0""",
    """CREATE VIEW ref.daily_sales_summary AS
    SELECT transaction_date AS sales_date, count(*) AS total_transactions,
           sum(quantity) AS total_items_sold, sum(total_amount) AS total_revenue,
           round(avg(total_amount), 2) AS avg_transaction_value,
           count(DISTINCT customer_id) AS unique_customers,
           count(DISTINCT product_id) AS unique_products
    FROM ref.transactions GROUP BY transaction_date""",
    """CREATE VIEW ref.product_performance AS
    SELECT p.product_id, p.product_name, p.category, count(t.transaction_id) AS total_orders,
           sum(t.quantity) AS total_quantity_sold, sum(t.total_amount) AS total_revenue,
           round(avg(t.total_amount), 2) AS avg_order_value,
           round(avg(t.quantity), 2) AS avg_quantity_per_order
    FROM ref.products p JOIN ref.transactions t ON t.product_id = p.product_id
    GROUP BY p.product_id, p.product_name, p.category""",
    """CREATE VIEW ref.customer_analytics AS
    WITH purchases AS (
        SELECT c.customer_id, c.customer_name, c.city, c.state, count(*) AS total_purchases,
               sum(t.quantity) AS total_items_bought, sum(t.total_amount) AS total_spent,
               round(avg(t.total_amount), 2) AS avg_order_value,
               min(t.transaction_date) AS first_purchase_date,
               max(t.transaction_date) AS last_purchase_date
        FROM ref.customers c JOIN ref.transactions t ON t.customer_id = c.customer_id
        GROUP BY c.customer_id, c.customer_name, c.city, c.state
    )
    , scored AS (
    SELECT p.*,
           (SELECT max(transaction_date) FROM ref.transactions) - p.last_purchase_date
               AS recency_days,
           ceil(5 * cume_dist() OVER (ORDER BY last_purchase_date))::int AS r_score,
           ceil(5 * cume_dist() OVER (ORDER BY total_purchases))::int AS f_score,
           ceil(5 * cume_dist() OVER (ORDER BY total_spent))::int AS m_score
    FROM purchases p
    )
    SELECT s.*,
           CASE WHEN r_score >= 4 AND f_score >= 4 AND m_score >= 4 THEN 'Champions'
                WHEN r_score <= 2 AND f_score >= 4 AND m_score >= 4 THEN 'Cannot Lose Them'
                WHEN r_score >= 3 AND f_score >= 4 THEN 'Loyal Customers'
                WHEN r_score >= 4 AND f_score >= 2 THEN 'Potential Loyalists'
                WHEN r_score >= 4 THEN 'New Customers'
                WHEN r_score = 3 AND f_score >= 3 THEN 'Need Attention'
                WHEN r_score = 3 THEN 'Promising'
                WHEN f_score >= 3 THEN 'At Risk'
                WHEN f_score = 2 THEN 'Hibernating'
                ELSE 'Lost' END AS rfm_segment,
           CASE WHEN total_spent >= 2000 THEN 'VIP' WHEN total_spent >= 1000 THEN 'High'
                WHEN total_spent >= 500 THEN 'Medium' ELSE 'Low' END AS spend_segment
    FROM scored s""",
]


SECRET = "Sup3r-Secret"


@pytest.fixture
def source(pg_url: str) -> Iterator[str]:
    """The test database, addressed with a password (the local server trusts; the password
    is there to prove it never reaches a log, a report or the lake)."""
    yield pg_url.replace("postgres@", f"postgres:{SECRET}@", 1)


def assert_no_secret(lake: Path, *outputs: str) -> None:
    for output in outputs:
        assert SECRET not in output
    for path in lake.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def execute(url: str, *statements: str) -> None:
    with pg.connect(url, autocommit=True) as con, con.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def fetch(url: str, sql: str) -> list[dict[str, Any]]:
    with pg.connect(url) as con, con.cursor() as cur:
        cur.execute(sql)
        table: pa.Table = cur.fetch_arrow_table()
    return table.to_pylist()


def reference(url: str) -> None:
    execute(url, "DROP SCHEMA IF EXISTS ref CASCADE", "CREATE SCHEMA ref", *REFERENCE_VIEWS)


def plain(value: Any) -> Any:
    """One comparable form: numbers as floats (ADBC gives NUMERIC as text, JSON output gives
    decimals as text), dates and timestamps as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def close(a: Any, b: Any) -> bool:
    a, b = plain(a), plain(b)
    if isinstance(a, float | int) and isinstance(b, float | int):
        # Averages are rounded to cents: binary doubles and exact NUMERIC may round a
        # half-cent differently.
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0100001)
    return bool(a == b)


def assert_rows_match(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], key: str, what: str
) -> None:
    assert len(ours) == len(theirs), f"{what}: {len(ours)} rows vs {len(theirs)} on the source"
    mine = {str(plain(r[key])): r for r in ours}
    for row in theirs:
        got = mine.get(str(plain(row[key])))
        assert got is not None, f"{what}: {key}={row[key]} missing"
        for column, expected in row.items():
            assert close(got[column], expected), (
                f"{what} {key}={row[key]} {column}: {got[column]!r} != {expected!r} (source)"
            )


def assert_same(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], what: str) -> None:
    """Same rows in the same order (the queries sort), values within rounding."""
    assert ours and len(ours) == len(theirs), f"{what}: {len(ours)} rows vs {len(theirs)}"
    for got, expected in zip(ours, theirs, strict=True):
        for column, value in expected.items():
            assert close(got[column], value), f"{what} {column}: {got} != {expected}"


def gold(lake: Path, name: str) -> list[dict[str, Any]]:
    return DeltaTableIO(Lake(str(lake)), f"gold/shopease/{name}").read().to_pylist()


def check_against_source(lake: Path, url: str) -> None:
    reference(url)
    for name, key in GOLD.items():
        assert_rows_match(gold(lake, name), fetch(url, f"SELECT * FROM ref.{name}"), key, name)


def athena_on_source(sql: str, schema: str = "ref") -> str:
    """A shipped query, pointed at a PostgreSQL schema (the reference views or the warehouse)
    and written for PostgreSQL."""
    # The shipped queries are written in the SQL both engines share; parsing them as
    # PostgreSQL keeps their semantics (DuckDB's "/" would be rewritten as float division).
    tree = sqlglot.parse_one(sql, read="postgres")
    for table in tree.find_all(sqlglot.exp.Table):
        table.set("catalog", None)
        table.set("db", sqlglot.exp.to_identifier(schema))
    return tree.sql(dialect="postgres")


@pytest.fixture
def env(tmp_path: Path, source: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    return base | {
        "STRATA_LAKE": str(tmp_path / "lake"),
        "STRATA_SHOPEASE__SOURCE_URL": source,
        "STRATA_SHOPEASE__WAREHOUSE_URL": source,
        "STRATA_SHOPEASE__WAREHOUSE_SCHEMA": "warehouse",
        "STRATA_SHOPEASE__BATCH_ROWS": "5000",
        "COLUMNS": "200",
    }


def run(env: dict[str, str], cwd: Path, *args: str) -> dict[str, Any]:
    done = strata("run", "shopease", *args, cwd=cwd, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_secret(Path(env["STRATA_LAKE"]), done.stdout, done.stderr)
    reports = sorted((Path(env["STRATA_LAKE"]) / "_runs" / "shopease").glob("*.json"))
    report: dict[str, Any] = json.loads(reports[-1].read_text())
    return report


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    """A step's metrics and row counts from the run report."""
    found: dict[str, Any] = report["metrics"][name]
    return found


def test_shopease_end_to_end_matches_the_source(
    tmp_path: Path, env: dict[str, str], source: str
) -> None:
    made = strata(
        "generate", "shopease", "--transactions", "20000", "--source", source, cwd=tmp_path, env=env
    )
    assert made.returncode == 0, made.stderr
    assert SECRET not in made.stdout + made.stderr
    assert "sale_transactions" in made.stdout and "20,000" in made.stdout

    first = run(env, tmp_path)
    lake = Path(env["STRATA_LAKE"])
    check_against_source(lake, source)

    # Rejected rows are in quarantine with the rule that rejected them.
    quarantined = DeltaTableIO(Lake(str(lake)), "quarantine/shopease/transactions").read()
    rules = set(quarantined.column("_quality_failed_rules").to_pylist())
    assert rules and rules <= {
        "positive_quantity",
        "positive_unit_price",
        "positive_quantity,positive_unit_price",
    }
    bad = fetch(
        source, "SELECT count(*) AS n FROM sale_transactions WHERE quantity <= 0 OR unit_price <= 0"
    )[0]["n"]
    assert quarantined.num_rows == bad

    # The warehouse holds exactly gold.
    for name, key in GOLD.items():
        synced = fetch(source, f"SELECT * FROM warehouse.{name}")
        assert_rows_match(synced, gold(lake, name), key, f"warehouse.{name}")
    assert step(first, "sync")["rows_out"] > 0

    # Every shipped Athena query gives the source's answer (one through the CLI as a user
    # runs it, all of them through the same session API the CLI uses).
    files = sorted(QUERIES.glob("*.sql"))
    assert len(files) >= 12
    done = strata("query", "-f", str(files[0]), "--format", "json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    cli_rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    settings = load_settings(profile="dev", dotenv=None, lake=str(lake), config_file=None)
    for file in files:
        ours = query(file.read_text(), settings).to_pylist()
        if file == files[0]:
            assert_same(cli_rows, ours, file.name)
        assert_same(ours, fetch(source, athena_on_source(file.read_text())), file.name)
        # The warehouse answers it too (gold and the silver tables the queries read are synced).
        in_warehouse = fetch(source, athena_on_source(file.read_text(), "warehouse"))
        assert_same(in_warehouse, ours, f"warehouse: {file.name}")

    # Changes at the source: the next run extracts only them, and gold still matches.
    changes = apply_changes(source)
    second = run(env, tmp_path)
    extracted = step(second, "extract")
    assert extracted["sale_transactions"]["rows"] == (
        changes.new_transactions + changes.updated_transactions + changes.late_transactions
    )
    assert extracted["stores"]["rows"] == 0
    check_against_source(lake, source)

    # ... and equals a rebuild from scratch into a fresh lake (with the seed's CSV bronze).
    fresh = env | {"STRATA_LAKE": str(tmp_path / "fresh"), "STRATA_SHOPEASE__BRONZE_FORMAT": "csv"}
    run(fresh, tmp_path, "--full-refresh")
    for name, key in GOLD.items():
        assert_rows_match(gold(lake, name), gold(tmp_path / "fresh", name), key, name)
    loads = list(Bronze(Lake(str(lake)), "shopease", "sale_transactions").loads())
    assert [m.format for m in loads] == ["parquet", "parquet"]
    csv = list(Bronze(Lake(str(tmp_path / "fresh")), "shopease", "sale_transactions").loads())
    assert [m.format for m in csv] == ["csv"]


def test_embedded_defaults_need_no_database_setup(tmp_path: Path) -> None:
    """No URL configured: an embedded PostgreSQL is started, filled and used as the warehouse."""
    from strata.db.embedded import embedded_postgres

    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env |= {"STRATA_SHOPEASE__TRANSACTIONS": "3000", "COLUMNS": "200"}
    done = strata("run", "shopease", "--lake", "lake", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    server = embedded_postgres(tmp_path / "lake" / "_strata")
    rows = fetch(
        server.with_database("warehouse").url,
        "SELECT count(*) AS n, sum(total_transactions) AS t FROM shopease.daily_sales_summary",
    )[0]
    source = fetch(
        server.with_database("shopease").url,
        "SELECT count(*) AS n FROM sale_transactions WHERE quantity > 0 AND unit_price > 0",
    )[0]
    assert rows["n"] > 300 and int(rows["t"]) == source["n"]  # NUMERIC sum comes as text


def test_unreachable_source_fails_clearly_without_the_password(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env = env | {
        "STRATA_SHOPEASE__SOURCE_URL": "postgresql://app:hunter2@127.0.0.1:9/shop",
        "STRATA_SHOPEASE__CONNECT_ATTEMPTS": "1",
        "STRATA_SHOPEASE__CONNECT_INTERVAL": "0",
    }
    done = strata("run", "shopease", cwd=tmp_path, env=env)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "hunter2" not in output
    assert "database postgresql://app:***@127.0.0.1:9/shop unavailable" in output


@pytest.mark.parametrize("kind", ["duckdb", "mariadb"])
def test_the_warehouse_can_be_a_duckdb_file_or_mariadb(
    kind: str, tmp_path: Path, env: dict[str, str], source: str, request: pytest.FixtureRequest
) -> None:
    from strata.sinks import open_warehouse

    if kind == "duckdb":
        warehouse = f"duckdb:///{tmp_path / 'dw.duckdb'}"
    else:
        warehouse = request.getfixturevalue("mysql_url")
    made = strata("generate", "shopease", "--transactions", "3000", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    env = env | {"STRATA_SHOPEASE__WAREHOUSE_URL": warehouse}
    run(env, tmp_path)
    lake = Path(env["STRATA_LAKE"])
    with open_warehouse(warehouse, schema="warehouse") as wh:
        assert set(GOLD) <= set(wh.tables())
        for name, key in GOLD.items():
            synced = wh.read(f"SELECT * FROM warehouse.{name}").to_pylist()
            assert_rows_match(synced, gold(lake, name), key, f"{kind} {name}")
