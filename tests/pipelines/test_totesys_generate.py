"""The totesys source generator and simulator against a real PostgreSQL (small scale)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import pytest

from strata.errors import ConfigError, DatabaseUnavailable
from strata.pipelines.totesys.generate import DDL, TABLES, ddl, generate, simulate

ORDERS = 2_000
STAMPS = ("created_at", "last_updated")
# The seed's source schema (seed-specs §5): every table also has created_at and last_updated.
SEED_COLUMNS = {
    "address": "address_id address_line_1 address_line_2 district city postal_code country phone",
    "counterparty": "counterparty_id counterparty_legal_name legal_address_id commercial_contact "
    "delivery_contact",
    "currency": "currency_id currency_code",
    "department": "department_id department_name location manager",
    "design": "design_id design_name file_location file_name",
    "staff": "staff_id first_name last_name department_id email_address",
    "sales_order": "sales_order_id design_id staff_id counterparty_id units_sold unit_price "
    "currency_id agreed_delivery_date agreed_payment_date agreed_delivery_location_id",
    "purchase_order": "purchase_order_id staff_id counterparty_id item_code item_quantity "
    "item_unit_price currency_id agreed_delivery_date agreed_payment_date "
    "agreed_delivery_location_id",
    "payment": "payment_id transaction_id counterparty_id payment_amount currency_id "
    "payment_type_id paid payment_date company_ac_number counterparty_ac_number",
    "payment_type": "payment_type_id payment_type_name",
    "transaction": "transaction_id transaction_type sales_order_id purchase_order_id",
}
NULLABLE = {
    ("address", "address_line_2"),
    ("address", "district"),
    ("counterparty", "commercial_contact"),
    ("counterparty", "delivery_contact"),
    ("department", "location"),
    ("department", "manager"),
    ("transaction", "sales_order_id"),
    ("transaction", "purchase_order_id"),
}
# (child table, column, parent table, parent key)
REFERENCES = (
    ("counterparty", "legal_address_id", "address", "address_id"),
    ("staff", "department_id", "department", "department_id"),
    ("sales_order", "design_id", "design", "design_id"),
    ("sales_order", "staff_id", "staff", "staff_id"),
    ("sales_order", "counterparty_id", "counterparty", "counterparty_id"),
    ("sales_order", "currency_id", "currency", "currency_id"),
    ("sales_order", "agreed_delivery_location_id", "address", "address_id"),
    ("purchase_order", "staff_id", "staff", "staff_id"),
    ("purchase_order", "counterparty_id", "counterparty", "counterparty_id"),
    ("purchase_order", "currency_id", "currency", "currency_id"),
    ("purchase_order", "agreed_delivery_location_id", "address", "address_id"),
    ("payment", "transaction_id", "transaction", "transaction_id"),
    ("payment", "counterparty_id", "counterparty", "counterparty_id"),
    ("payment", "currency_id", "currency", "currency_id"),
    ("payment", "payment_type_id", "payment_type", "payment_type_id"),
    ("transaction", "sales_order_id", "sales_order", "sales_order_id"),
    ("transaction", "purchase_order_id", "purchase_order", "purchase_order_id"),
)
DATE_TEXT = (
    ("sales_order", "agreed_delivery_date"),
    ("sales_order", "agreed_payment_date"),
    ("purchase_order", "agreed_delivery_date"),
    ("purchase_order", "agreed_payment_date"),
    ("payment", "payment_date"),
)


@pytest.fixture
def db(pg_url: str) -> Iterator[Any]:
    """A cursor on the test database, autocommit on."""
    with pg.connect(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        yield cur


@pytest.fixture
def source(pg_url: str, db: Any) -> Any:
    generate(pg_url, sales_orders=ORDERS)
    return db


def scalar(cur: Any, sql: str) -> Any:
    cur.execute(sql)
    return cur.fetchone()[0]


def rows(cur: Any, sql: str) -> list[tuple[Any, ...]]:
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def orphans(child: str, column: str, parent: str, parent_key: str) -> str:
    return f"""SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON p.{parent_key} = c.{column}
        WHERE c.{column} IS NOT NULL AND p.{parent_key} IS NULL"""


def key(table: str) -> str:
    return SEED_COLUMNS[table].split()[0]


def digest(cur: Any, schema: str, table: str) -> str:
    return scalar(
        cur, f"SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM {schema}.{table} t"
    )


def snapshot(cur: Any, table: str) -> dict[int, str]:
    """Every row of `table` as text, by id."""
    return dict(rows(cur, f"SELECT {key(table)}, t::text FROM {table} t"))


def test_tables_columns_types_and_keys(source: Any) -> None:
    db = source
    found = rows(
        db,
        "SELECT table_name, column_name, is_nullable, data_type, character_maximum_length, "
        "numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = 'public'",
    )
    columns: dict[str, set[str]] = {}
    for table, column, *_ in found:
        columns.setdefault(table, set()).add(column)
    assert set(columns) == {*SEED_COLUMNS, "_prisma_migrations"}
    for table, names in SEED_COLUMNS.items():
        assert columns[table] == {*names.split(), *STAMPS}, table
    assert {"id", "migration_name", "checksum"} <= columns["_prisma_migrations"]
    assert "last_updated" not in columns["_prisma_migrations"]  # why ingestion must skip it

    info = {(t, c): rest for t, c, *rest in found if t != "_prisma_migrations"}
    nullable = {tc for tc, (is_nullable, *_) in info.items() if is_nullable == "YES"}
    assert nullable == NULLABLE
    for table, column in DATE_TEXT:
        assert info[(table, column)][1] in ("text", "character varying")
    assert info[("currency", "currency_code")][1:3] == ["character varying", 3]
    for table, column in (
        ("sales_order", "unit_price"),
        ("purchase_order", "item_unit_price"),
        ("payment", "payment_amount"),
    ):
        assert info[(table, column)][1:] == ["numeric", None, 10, 2]
    assert info[("payment", "paid")][1] == "boolean"
    for column in ("company_ac_number", "counterparty_ac_number"):
        assert info[("payment", column)][1] in ("text", "character varying")
    for table in TABLES:
        for column in STAMPS:
            assert info[(table, column)][1] == "timestamp without time zone"

    primary = rows(
        db,
        "SELECT tc.table_name, k.column_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name) "
        "WHERE tc.table_schema = 'public' AND tc.constraint_type = 'PRIMARY KEY'",
    )
    assert set(primary) == {(t, key(t)) for t in TABLES} | {("_prisma_migrations", "id")}
    foreign = rows(
        db,
        "SELECT conrelid::regclass::text, a.attname, confrelid::regclass::text, f.attname "
        "FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1] "
        "WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace",
    )
    assert sorted(foreign) == sorted(REFERENCES)
    # The DDL creates the same tables and keys in any schema (DDL itself: in public).
    for statement in ddl("twin"):
        db.execute(statement)
    shape = """SELECT table_name, column_name, ordinal_position, is_nullable, data_type
        FROM information_schema.columns WHERE table_schema = '{}' ORDER BY 1, 2"""
    assert rows(db, shape.format("twin")) == rows(db, shape.format("public"))
    keys = "SELECT count(*) FROM pg_constraint WHERE connamespace = '{}'::regnamespace"
    assert scalar(db, keys.format("twin")) == scalar(db, keys.format("public"))
    assert tuple(ddl("public")) == DDL


def test_row_counts_and_progress(pg_url: str, db: Any) -> None:
    progress: list[tuple[str, int]] = []
    result = generate(pg_url, sales_orders=ORDERS, on_progress=lambda t, n: progress.append((t, n)))
    expected = {
        "address": 30,
        "counterparty": 20,
        "currency": 3,
        "department": 8,
        "design": 300,
        "staff": 20,
        "sales_order": ORDERS,
        "purchase_order": ORDERS // 2,
        "payment": ORDERS * 3 // 2,
        "payment_type": 4,
        "transaction": ORDERS * 3 // 2,
        "_prisma_migrations": 2,
    }
    assert result.rows == expected
    assert result.seconds > 0
    for table, count in expected.items():
        assert scalar(db, f"SELECT count(*) FROM {table}") == count, table
    assert dict(progress) == {t: n for t, n in expected.items() if t in TABLES}
    newest = "SELECT max(last_updated) FROM ({}) u".format(
        " UNION ALL ".join(f"SELECT last_updated FROM {t}" for t in TABLES)
    )
    assert result.newest == scalar(db, newest)


def test_references_dates_and_shape(source: Any) -> None:
    db = source
    for child, column, parent, parent_key in REFERENCES:
        assert scalar(db, orphans(child, column, parent, parent_key)) == 0, (child, column)
    for table, column in DATE_TEXT:
        texts = [r[0] for r in rows(db, f"SELECT DISTINCT {column} FROM {table}")]
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in texts), (table, column)
        assert all(datetime.strptime(t, "%Y-%m-%d") for t in texts)
    for table in ("sales_order", "purchase_order"):
        early = f"""SELECT count(*) FROM {table}
            WHERE agreed_delivery_date::date <= created_at::date
            OR agreed_payment_date::date <= created_at::date"""
        assert scalar(db, early) == 0, table

    # Exactly one order per transaction, matching its type; one transaction per order, one
    # payment per transaction, for the order's counterparty and currency.
    assert rows(db, "SELECT transaction_type, count(*) FROM transaction GROUP BY 1 ORDER BY 1") == [
        ("PURCHASE", ORDERS // 2),
        ("SALE", ORDERS),
    ]
    mismatched = """SELECT count(*) FROM transaction
        WHERE (sales_order_id IS NULL) = (purchase_order_id IS NULL)
        OR (transaction_type = 'SALE') <> (sales_order_id IS NOT NULL)"""
    assert scalar(db, mismatched) == 0
    assert scalar(db, "SELECT count(DISTINCT sales_order_id) FROM transaction") == ORDERS
    assert scalar(db, "SELECT count(DISTINCT purchase_order_id) FROM transaction") == ORDERS // 2
    assert scalar(db, "SELECT count(DISTINCT transaction_id) FROM payment") == ORDERS * 3 // 2
    receipts = """SELECT count(*), count(*) FILTER (WHERE p.payment_amount = s.units_sold *
            s.unit_price AND p.counterparty_id = s.counterparty_id
            AND p.currency_id = s.currency_id AND p.payment_date = s.agreed_payment_date
            AND p.created_at = s.created_at AND t.created_at = s.created_at)
        FROM sales_order s JOIN transaction t USING (sales_order_id)
        JOIN payment p USING (transaction_id) JOIN payment_type pt USING (payment_type_id)
        WHERE pt.payment_type_name = 'SALES_RECEIPT'"""
    total, matching = rows(db, receipts)[0]
    assert total > 0.9 * ORDERS and matching == total

    # Time: orders follow `start`, in id order; updates come later but never after the last order.
    first, last = rows(db, "SELECT min(created_at), max(created_at) FROM sales_order")[0]
    assert datetime(2022, 11, 3, 14, 20) < first < datetime(2022, 11, 4)
    assert timedelta(days=60) < last - first < timedelta(days=100)  # about 25 orders a day
    last = max(last, scalar(db, "SELECT max(created_at) FROM purchase_order"))
    out_of_order = """SELECT count(*) FROM (SELECT created_at <= lag(created_at)
        OVER (ORDER BY sales_order_id) AS back FROM sales_order) x WHERE back"""
    assert scalar(db, out_of_order) == 0
    for table in TABLES:
        assert scalar(db, f"SELECT count(*) FROM {table} WHERE last_updated < created_at") == 0
        assert scalar(db, f"SELECT max(last_updated) <= TIMESTAMP '{last}' FROM {table}")
    later = scalar(db, "SELECT count(*) FROM sales_order WHERE last_updated > created_at")
    assert 0.05 * ORDERS < later < 0.15 * ORDERS
    unpaid = scalar(db, "SELECT count(*) FROM payment WHERE NOT paid")
    assert 0 < unpaid < 0.25 * ORDERS * 3 // 2  # due after the snapshot, or overdue
    overdue = f"SELECT count(*) FROM payment WHERE NOT paid AND payment_date < '{last:%Y-%m-%d}'"
    assert 0 < scalar(db, overdue) < 0.05 * ORDERS * 3 // 2
    stamped = "SELECT count(*) FROM payment WHERE paid AND last_updated::date <> payment_date::date"
    assert scalar(db, stamped) == 0  # settled on their payment date

    # Values and quirks.
    assert rows(db, "SELECT min(units_sold) >= 1000, max(units_sold) <= 100000, "
                "min(unit_price) >= 2, max(unit_price) <= 4 FROM sales_order") == [
        (True, True, True, True)
    ]  # fmt: skip
    assert [r[0] for r in rows(db, "SELECT currency_code FROM currency ORDER BY 1")] == [
        "EUR",
        "GBP",
        "USD",
    ]
    names = [r[0] for r in rows(db, "SELECT payment_type_name FROM payment_type ORDER BY 1")]
    assert names == ["PURCHASE_PAYMENT", "PURCHASE_REFUND", "SALES_RECEIPT", "SALES_REFUND"]
    emails = [r[0] for r in rows(db, "SELECT email_address FROM staff")]
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+@terrifictotes\.com", e) for e in emails)
    assert len(set(emails)) == len(emails)
    files = [r[0] for r in rows(db, "SELECT file_name FROM design")]
    assert all(re.fullmatch(r"[a-z]+-20\d{6}-[a-z]{4}\.json", f) for f in files)
    accounts = rows(db, "SELECT company_ac_number, counterparty_ac_number FROM payment")
    assert all(re.fullmatch(r"\d{8}", a) and re.fullmatch(r"\d{8}", b) for a, b in accounts)
    for table, column in NULLABLE:  # the nullable columns do hold NULLs
        assert scalar(db, f"SELECT count(*) FROM {table} WHERE {column} IS NULL") > 0, column
    countries = {r[0] for r in rows(db, "SELECT DISTINCT country FROM address")}
    assert {"United Kingdom", "United States"} <= countries and len(countries) >= 4
    assert scalar(db, "SELECT count(*) FROM _prisma_migrations") == 2
    # Sequences follow the loaded ids: an insert without an id gets the next one.
    db.execute(
        "INSERT INTO currency (currency_code, created_at, last_updated) "
        "VALUES ('CHF', now(), now())"
    )
    assert scalar(db, "SELECT max(currency_id) FROM currency") == 4


def test_same_seed_same_rows(pg_url: str, db: Any) -> None:
    for schema, seed in (("a", 42), ("b", 42), ("c", 43)):
        generate(pg_url, sales_orders=500, seed=seed, schema=schema)
    for table in (*TABLES, "_prisma_migrations"):
        assert digest(db, "a", table) == digest(db, "b", table), table
    for table in ("address", "sales_order", "payment", "design"):
        assert digest(db, "a", table) != digest(db, "c", table), table
    generate(pg_url, sales_orders=500, seed=42, schema="a")  # regenerating replaces
    assert scalar(db, "SELECT count(*) FROM a.sales_order") == 500
    assert digest(db, "a", "payment") == digest(db, "b", "payment")
    public = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    assert scalar(db, public) == 0  # other schemas untouched

    # simulate without a seed: the same state gives the same changes, a new state new ones.
    for schema in ("a", "b"):
        simulate(pg_url, changes=30, schema=schema)
    for table in TABLES:
        assert digest(db, "a", table) == digest(db, "b", table), table
    simulate(pg_url, changes=30, schema="a")
    simulate(pg_url, changes=30, schema="b", seed=5)
    assert digest(db, "a", "sales_order") != digest(db, "b", "sales_order")


def test_simulate_changes_only_newer_rows(source: Any, pg_url: str) -> None:
    db = source
    before = {t: snapshot(db, t) for t in TABLES}
    old_newest = {t: scalar(db, f"SELECT max(last_updated) FROM {t}") for t in TABLES}
    watermark = max(old_newest.values())
    old_max = {t: max(before[t]) for t in TABLES}

    result = simulate(pg_url, changes=120, seed=3)

    assert result.seconds > 0
    assert sum(result.rows.values()) + len(result.updated_twice) == 120
    assert result.rows == {t: result.inserted[t] + result.updated[t] for t in TABLES}
    assert result.inserted["sales_order"] > 0 and result.updated["sales_order"] > 0
    assert result.inserted["transaction"] == result.inserted["payment"]
    assert result.inserted["transaction"] == (
        result.inserted["sales_order"] + result.inserted["purchase_order"]
    )
    assert result.updated["payment"] > 0  # settled
    for table in ("staff", "counterparty", "address", "design"):
        assert result.rows[table] > 0, table
    assert result.first is not None and result.last is not None
    assert watermark < result.first < result.last

    for table in TABLES:
        after = snapshot(db, table)
        newer = dict(
            rows(db, f"SELECT {key(table)}, t::text FROM {table} t "
                 f"WHERE last_updated > TIMESTAMP '{watermark}'")
        )  # fmt: skip
        assert len(newer) == result.rows[table], table
        assert sum(i > old_max[table] for i in newer) == result.inserted[table], table
        assert sum(i <= old_max[table] for i in newer) == result.updated[table], table
        # Nothing else changed (or disappeared); every updated row really changed.
        untouched = {i: text for i, text in after.items() if i not in newer}
        assert untouched == {i: t for i, t in before[table].items() if i not in newer}, table
        assert all(before[table][i] != newer[i] for i in newer if i in before[table])
        newest = scalar(db, f"SELECT max(last_updated) FROM {table}")
        assert (newest > old_newest[table]) == (result.rows[table] > 0), table

    # Every change has its own moment; the twice-updated orders carry the newest ones.
    changed = rows(
        db,
        f"SELECT sales_order_id, last_updated FROM sales_order "
        f"WHERE last_updated > TIMESTAMP '{watermark}' ORDER BY last_updated",
    )
    assert len({stamp for _, stamp in changed}) == len(changed)
    twice = result.updated_twice
    assert len(twice) == 6 and all(i <= old_max["sales_order"] for i in twice)
    assert sorted(i for i, _ in changed[-len(twice) :]) == twice
    assert changed[-1][1] == result.last
    created = "SELECT count(*) FROM sales_order WHERE created_at > TIMESTAMP '{}'"
    assert scalar(db, created.format(watermark)) == result.inserted["sales_order"]

    # New orders come with their transaction and payment, and reference existing rows only.
    for child, column, parent, parent_key in REFERENCES:
        assert scalar(db, orphans(child, column, parent, parent_key)) == 0, (child, column)
    lonely = """SELECT count(*) FROM sales_order s WHERE NOT EXISTS (SELECT 1 FROM transaction t
        JOIN payment p USING (transaction_id) WHERE t.sales_order_id = s.sales_order_id)"""
    assert scalar(db, lonely) == 0
    for table, column in DATE_TEXT:
        assert scalar(db, f"SELECT count({column}::date) FROM {table}") > 0
    # Sequences still follow the ids.
    db.execute(
        "INSERT INTO staff (first_name, last_name, department_id, email_address, created_at, "
        "last_updated) VALUES ('New', 'Starter', 1, 'new.starter@terrifictotes.com', now(), now())"
    )
    staff_ids = rows(db, "SELECT staff_id FROM staff ORDER BY 1 DESC LIMIT 2")
    assert staff_ids[0][0] == staff_ids[1][0] + 1


def test_simulate_moments_and_defaults(source: Any, pg_url: str) -> None:
    db = source
    newest = scalar(
        db,
        "SELECT max(m) FROM (" + " UNION ALL ".join(
            f"SELECT max(last_updated) AS m FROM {t}" for t in TABLES) + ") x",
    )  # fmt: skip
    early = simulate(pg_url, changes=10, seed=1, now=datetime(2000, 1, 1))
    assert early.first == newest + timedelta(milliseconds=1)  # moved after the data
    assert sum(early.rows.values()) == 10 and early.updated_twice == []
    assert early.last is not None
    later = simulate(pg_url, changes=5, now=early.last + timedelta(days=3))
    assert later.first == early.last + timedelta(days=3)
    default = simulate(pg_url, changes=5)
    assert later.last is not None and default.first is not None
    gap = default.first - later.last
    assert timedelta(minutes=1) < gap < timedelta(hours=1, milliseconds=2)
    before = digest(db, "public", "sales_order")
    nothing = simulate(pg_url, changes=0)
    assert sum(nothing.rows.values()) == 0 and nothing.first is None
    assert digest(db, "public", "sales_order") == before


def test_bad_arguments_and_unreachable_server(pg_url: str) -> None:
    with pytest.raises(ConfigError):
        generate("mysql://root@127.0.0.1/x")
    with pytest.raises(ConfigError):
        generate(pg_url, sales_orders=0)
    with pytest.raises(ConfigError):
        simulate(pg_url, changes=-1)
    with pytest.raises(ConfigError, match="generate first"):
        simulate(pg_url)  # an empty database
    with pytest.raises(DatabaseUnavailable) as caught:
        generate("postgresql://tote:s3cret-pw@127.0.0.1:1/totesys")
    assert "s3cret-pw" not in str(caught.value)


def test_ten_thousand_orders_in_seconds(pg_url: str) -> None:
    result = generate(pg_url)
    assert result.rows["sales_order"] == 10_000 and result.rows["payment"] == 15_000
    assert result.seconds < 5
