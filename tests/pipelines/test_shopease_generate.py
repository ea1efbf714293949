"""The ShopEase source-database generator against a real PostgreSQL (small scale)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import pytest

from strata.errors import ConfigError, DatabaseUnavailable
from strata.pipelines.shopease import generate as gen
from strata.pipelines.shopease.generate import SOURCE_TABLES, apply_changes, generate

SMALL = {"transactions": 20_000, "customers": 2_000, "products": 60}


@pytest.fixture
def db(pg_url: str) -> Iterator[Any]:
    """A cursor on the test database, autocommit on."""
    with pg.connect(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        yield cur


def scalar(cur: Any, sql: str) -> Any:
    cur.execute(sql)
    return cur.fetchone()[0]


def digest(cur: Any, schema: str, table: str) -> str:
    """An order-independent md5 of every row of `schema.table` (duplicates count)."""
    return scalar(
        cur, f"SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {schema}.{table} t"
    )


@pytest.fixture
def small(pg_url: str, db: Any) -> tuple[str, Any]:
    generate(pg_url, **SMALL)
    return pg_url, db


def test_row_counts_types_and_progress(pg_url: str, db: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(gen, "CHUNK_ROWS", 7_000)  # three chunks
    progress: list[tuple[str, int]] = []
    result = generate(pg_url, **SMALL, on_progress=lambda t, n: progress.append((t, n)))
    expected = {
        "customers": 2_000,
        "products": 60,
        "stores": 5,
        "inventory": 300,
        "sales_managers": 5,
        "sale_transactions": 20_000,
    }
    assert result.rows == expected
    assert result.seconds > 0
    for table, rows in expected.items():
        assert scalar(db, f"SELECT count(*) FROM {table}") == rows
    assert [n for t, n in progress if t == "sale_transactions"] == [7_000, 14_000, 20_000]
    assert {t for t, _ in progress} == set(SOURCE_TABLES)
    db.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name IN "
        "('transaction_id', 'unit_price', 'price', 'created_at', 'updated_at', 'opened_on')"
    )
    types = {(t, c): d for t, c, d in db.fetchall()}
    assert types[("sale_transactions", "transaction_id")] == "bigint"
    assert types[("sale_transactions", "unit_price")] == "numeric"
    assert types[("products", "price")] == "numeric"
    assert types[("customers", "updated_at")] == "timestamp without time zone"
    assert types[("stores", "opened_on")] == "date"
    primary_keys = """SELECT count(*) FROM information_schema.table_constraints
        WHERE table_schema = 'public' AND constraint_type = 'PRIMARY KEY'"""
    assert scalar(db, primary_keys) == 5  # every table but customers


def test_same_arguments_same_rows(pg_url: str, db: Any) -> None:
    for schema, seed in (("a", 42), ("b", 42), ("c", 43)):
        generate(pg_url, **SMALL, seed=seed, schema=schema)
    for table in SOURCE_TABLES:
        assert digest(db, "a", table) == digest(db, "b", table), table
    assert digest(db, "a", "sale_transactions") != digest(db, "c", "sale_transactions")
    generate(pg_url, **SMALL, seed=42, schema="a")  # regenerating replaces, never appends
    assert scalar(db, "SELECT count(*) FROM a.sale_transactions") == 20_000
    assert digest(db, "a", "customers") == digest(db, "b", "customers")


def test_dirty_rows_in_the_promised_proportions(small: tuple[str, Any]) -> None:
    _, db = small
    rows = scalar(db, "SELECT count(*) FROM customers")
    distinct = scalar(db, "SELECT count(*) FROM (SELECT DISTINCT * FROM customers) d")
    assert rows - distinct == 20  # 1% exact duplicates
    assert scalar(db, "SELECT count(DISTINCT customer_id) FROM customers") == distinct
    messy = scalar(
        db, "SELECT count(*) FROM customers WHERE customer_name <> initcap(btrim(customer_name))"
    )
    assert 0.015 * rows < messy < 0.05 * rows
    null_emails = scalar(db, "SELECT count(*) FROM customers WHERE email IS NULL")
    assert 0.003 * rows < null_emails < 0.02 * rows
    messy_emails = scalar(db, "SELECT count(*) FROM customers WHERE email <> lower(btrim(email))")
    assert 0.005 * rows < messy_emails < 0.04 * rows
    assert scalar(db, "SELECT count(*) FROM customers WHERE zip_code LIKE '0%'") > 0  # text ZIPs

    assert scalar(db, "SELECT count(*) FROM products WHERE product_name IS NULL") == 1
    assert 1 <= scalar(db, "SELECT count(*) FROM products WHERE price <= 0") <= 3
    assert scalar(db, "SELECT count(DISTINCT category) FROM products") > 10  # messy spellings
    assert scalar(db, "SELECT count(DISTINCT upper(btrim(category))) FROM products") <= 10

    lines = SMALL["transactions"]
    bad_quantity = scalar(db, "SELECT count(*) FROM sale_transactions WHERE quantity <= 0")
    assert 0.0015 * lines < bad_quantity < 0.005 * lines
    bad_price = scalar(db, "SELECT count(*) FROM sale_transactions WHERE unit_price <= 0")
    assert 0.001 * lines < bad_price < 0.0035 * lines
    late = scalar(db, "SELECT count(*) FROM sale_transactions WHERE updated_at > created_at")
    assert 0.04 * lines < late < 0.06 * lines


def test_references_and_time_order(small: tuple[str, Any]) -> None:
    _, db = small
    orphans = """
        SELECT count(*) FROM sale_transactions t
        WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.store_id = t.store_id)
           OR NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id)
           OR NOT EXISTS (SELECT 1 FROM products p WHERE p.product_id = t.product_id)"""
    assert scalar(db, orphans) == 0
    before_signup = """
        SELECT count(*) FROM sale_transactions t JOIN customers c USING (customer_id)
        WHERE t.created_at < c.created_at"""
    assert scalar(db, before_signup) == 0
    out_of_order = """
        SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY transaction_id)
        AS back FROM sale_transactions) x WHERE back"""
    assert scalar(db, out_of_order) == 0
    db.execute("SELECT min(created_at), max(created_at), max(updated_at) FROM sale_transactions")
    first, last, updated = db.fetchone()
    assert first >= datetime(2024, 1, 2) and last < updated <= datetime(2026, 1, 1)
    assert scalar(db, "SELECT count(DISTINCT (store_id, product_id)) FROM inventory") == 300
    assert scalar(db, "SELECT count(DISTINCT store_id) FROM sales_managers") == 5


def test_realistic_shape(small: tuple[str, Any]) -> None:
    _, db = small
    share = """SELECT max(n)::float / sum(n)
        FROM (SELECT count(*) n FROM sale_transactions GROUP BY {}) c"""
    assert scalar(db, share.format("product_id")) > 0.03  # a best seller (Zipf-like)
    assert scalar(db, share.format("customer_id")) > 0.002  # repeat customers (power law)
    per_day = """SELECT avg(n)::float FROM (SELECT count(*) n FROM sale_transactions
        WHERE {} GROUP BY created_at::date) d"""
    december = scalar(db, per_day.format("extract(month FROM created_at) = 12"))
    spring = scalar(db, per_day.format("extract(month FROM created_at) IN (3, 4, 5)"))
    saturday = scalar(db, per_day.format("extract(isodow FROM created_at) = 6"))
    tuesday = scalar(db, per_day.format("extract(isodow FROM created_at) = 2"))
    assert december > 1.3 * spring and saturday > 1.3 * tuesday
    one_to_five = "SELECT avg((quantity BETWEEN 1 AND 5)::int)::float FROM sale_transactions"
    assert scalar(db, one_to_five) > 0.9
    cash_online = """SELECT count(*) FROM sale_transactions
        WHERE payment_method = 'cash' AND sales_channel <> 'in_store'"""
    assert scalar(db, cash_online) == 0
    near_list = """SELECT avg((t.unit_price BETWEEN 0.7 * p.price AND 1.06 * p.price)::int)::float
        FROM sale_transactions t JOIN products p USING (product_id) WHERE p.price > 0"""
    assert scalar(db, near_list) > 0.99


def test_apply_changes(small: tuple[str, Any]) -> None:
    url, db = small
    old_max_id = scalar(db, "SELECT max(transaction_id) FROM sale_transactions")
    old_max_customer = scalar(db, "SELECT max(customer_id) FROM customers")
    old_watermark = scalar(
        db,
        "SELECT max(updated_at) FROM (SELECT updated_at FROM sale_transactions UNION ALL "
        "SELECT updated_at FROM customers UNION ALL SELECT updated_at FROM products) u",
    )
    result = apply_changes(
        url,
        new_transactions=300,
        updated_transactions=40,
        late_transactions=25,
        new_customers=7,
        updated_customers=11,
        updated_products=3,
        now=datetime(2020, 1, 1),  # earlier than the data: must be moved past the watermark
    )
    assert (result.new_transactions, result.updated_transactions, result.late_transactions) == (
        300,
        40,
        25,
    )
    assert (result.new_customers, result.updated_customers, result.updated_products) == (7, 11, 3)
    now = result.now
    assert now == old_watermark + timedelta(milliseconds=1)

    def count(table: str, where: str = "true") -> int:
        now_sql = f"TIMESTAMP '{now.isoformat()}'"
        sql = f"SELECT count(*) FROM {table} WHERE " + where.format(now=now_sql, old=old_max_id)
        return int(scalar(db, sql))

    sales = "sale_transactions"
    assert count(sales) == 20_000 + 300 + 25
    assert count(sales, "transaction_id > {old}") == 325
    assert count(sales, "updated_at = {now}") == 300 + 40 + 25
    assert count(sales, "updated_at > {now}") == 0
    assert count(sales, "updated_at = {now} AND transaction_id <= {old}") == 40
    assert count(sales, "created_at = {now} AND transaction_id > {old}") == 300
    late = "transaction_id > {old} + 300 AND created_at < {now} - INTERVAL '1 day'"
    assert count(sales, late) == 25
    assert count(sales, "transaction_id > {old} AND created_at <> {now}") == 25
    assert count("customers", f"customer_id > {old_max_customer} AND created_at = {{now}}") == 7
    assert scalar(db, "SELECT max(customer_id) FROM customers") == old_max_customer + 7
    moved = "SELECT count(DISTINCT customer_id) FROM customers WHERE updated_at = {}"
    assert scalar(db, moved.format(f"TIMESTAMP '{now.isoformat()}'")) == 7 + 11
    assert count("products", "updated_at = {now}") == 3
    orphans = """SELECT count(*) FROM sale_transactions t
        WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id)"""
    assert scalar(db, orphans) == 0
    # Duplicate customer rows stay exact duplicates after an update.
    assert scalar(db, "SELECT count(*) - count(DISTINCT (c.*)::text) FROM customers c") == 20

    again = apply_changes(url, new_transactions=1, updated_transactions=0, late_transactions=0)
    assert again.now > now  # the default `now` is after everything, too


def test_connection_failure_is_redacted() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        generate("postgresql://shop:s3cret-pw@127.0.0.1:1/shopease", transactions=10)
    assert "s3cret-pw" not in str(caught.value)
    assert "***" in caught.value.url
    with pytest.raises(DatabaseUnavailable) as caught:
        apply_changes("postgresql://shop:s3cret-pw@127.0.0.1:1/shopease")
    assert "s3cret-pw" not in str(caught.value)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        generate("mysql://root@127.0.0.1/x")
    with pytest.raises(ConfigError):
        generate("postgresql://postgres@127.0.0.1/x", products=0)
    with pytest.raises(ConfigError):
        apply_changes("postgresql://postgres@127.0.0.1/x", new_transactions=-1)
