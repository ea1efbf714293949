"""The totesys sample source (seed 004): the Terrific Totes OLTP schema in PostgreSQL.

All eleven tables of seed-specs §5 with their columns, keys and quirks: agreed and payment
dates stored as text, nullable address lines, districts and contacts, every table with
`created_at` and `last_updated`; plus a `_prisma_migrations` table the ingestion must skip.
`generate` fills them deterministically for a seed; `simulate` makes inserts and updates with
newer `last_updated` (some rows updated twice) to exercise incremental runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from strata.db import DatabaseUrl, connect_postgres

START = datetime(2022, 11, 3, 14, 20, 51, 563000)
TABLES = (
    "address",
    "counterparty",
    "currency",
    "department",
    "design",
    "staff",
    "sales_order",
    "purchase_order",
    "payment_type",
    "transaction",
    "payment",
)
STAMPS = "created_at TIMESTAMP NOT NULL, last_updated TIMESTAMP NOT NULL"
DDL = (
    f"""CREATE TABLE address (address_id SERIAL PRIMARY KEY, address_line_1 VARCHAR NOT NULL,
        address_line_2 VARCHAR, district VARCHAR, city VARCHAR NOT NULL,
        postal_code VARCHAR NOT NULL, country VARCHAR NOT NULL, phone VARCHAR NOT NULL,
        {STAMPS})""",
    f"""CREATE TABLE counterparty (counterparty_id SERIAL PRIMARY KEY,
        counterparty_legal_name VARCHAR NOT NULL,
        legal_address_id INT NOT NULL REFERENCES address, commercial_contact VARCHAR,
        delivery_contact VARCHAR, {STAMPS})""",
    f"""CREATE TABLE currency (currency_id SERIAL PRIMARY KEY,
        currency_code VARCHAR(3) NOT NULL, {STAMPS})""",
    f"""CREATE TABLE department (department_id SERIAL PRIMARY KEY,
        department_name VARCHAR NOT NULL, location VARCHAR, manager VARCHAR, {STAMPS})""",
    f"""CREATE TABLE design (design_id SERIAL PRIMARY KEY, design_name VARCHAR NOT NULL,
        file_location VARCHAR NOT NULL, file_name VARCHAR NOT NULL, {STAMPS})""",
    f"""CREATE TABLE staff (staff_id SERIAL PRIMARY KEY, first_name VARCHAR NOT NULL,
        last_name VARCHAR NOT NULL, department_id INT NOT NULL REFERENCES department,
        email_address VARCHAR NOT NULL, {STAMPS})""",
    f"""CREATE TABLE sales_order (sales_order_id SERIAL PRIMARY KEY,
        design_id INT NOT NULL REFERENCES design, staff_id INT NOT NULL REFERENCES staff,
        counterparty_id INT NOT NULL REFERENCES counterparty, units_sold INT NOT NULL,
        unit_price NUMERIC(10, 2) NOT NULL, currency_id INT NOT NULL REFERENCES currency,
        agreed_delivery_date VARCHAR NOT NULL, agreed_payment_date VARCHAR NOT NULL,
        agreed_delivery_location_id INT NOT NULL REFERENCES address, {STAMPS})""",
    f"""CREATE TABLE purchase_order (purchase_order_id SERIAL PRIMARY KEY,
        staff_id INT NOT NULL REFERENCES staff,
        counterparty_id INT NOT NULL REFERENCES counterparty, item_code VARCHAR NOT NULL,
        item_quantity INT NOT NULL, item_unit_price NUMERIC(10, 2) NOT NULL,
        currency_id INT NOT NULL REFERENCES currency, agreed_delivery_date VARCHAR NOT NULL,
        agreed_payment_date VARCHAR NOT NULL,
        agreed_delivery_location_id INT NOT NULL REFERENCES address, {STAMPS})""",
    f"""CREATE TABLE payment_type (payment_type_id SERIAL PRIMARY KEY,
        payment_type_name VARCHAR NOT NULL, {STAMPS})""",
    f"""CREATE TABLE transaction (transaction_id SERIAL PRIMARY KEY,
        transaction_type VARCHAR NOT NULL CHECK (transaction_type IN ('SALE', 'PURCHASE')),
        sales_order_id INT REFERENCES sales_order,
        purchase_order_id INT REFERENCES purchase_order, {STAMPS},
        CHECK ((sales_order_id IS NULL) <> (purchase_order_id IS NULL)))""",
    f"""CREATE TABLE payment (payment_id SERIAL PRIMARY KEY,
        transaction_id INT NOT NULL REFERENCES transaction,
        counterparty_id INT NOT NULL REFERENCES counterparty,
        payment_amount NUMERIC(10, 2) NOT NULL, currency_id INT NOT NULL REFERENCES currency,
        payment_type_id INT NOT NULL REFERENCES payment_type, paid BOOLEAN NOT NULL,
        payment_date VARCHAR NOT NULL, company_ac_number VARCHAR NOT NULL,
        counterparty_ac_number VARCHAR NOT NULL, {STAMPS})""",
    """CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY,
        checksum VARCHAR(64) NOT NULL, migration_name VARCHAR(255) NOT NULL,
        finished_at TIMESTAMP, applied_steps_count INT NOT NULL DEFAULT 0)""",
)
CITIES = [
    ("London", "Greater London", "United Kingdom"),
    ("Leeds", "West Yorkshire", "United Kingdom"),
    ("Manchester", None, "United Kingdom"),
    ("New York", "New York", "United States"),
    ("Austin", "Texas", "United States"),
    ("Berlin", None, "Germany"),
    ("Lyon", "Rhone", "France"),
    ("Dublin", None, "Ireland"),
]
STREETS = ["High Street", "Station Road", "Mill Lane", "Church Street", "Park Avenue", "Elm Row"]
COMPANIES = ["Fahey", "Leannon", "Armstrong", "Kohler", "Frami", "Mraz", "Bechtelar", "Moen"]
SUFFIXES = ["and Sons", "Inc", "LLC", "Group", "Ltd", "Partners"]
FIRST = ["Jeremie", "Deron", "Jeanette", "Ana", "Magdalena", "Korey", "Raphael", "Oswaldo"]
LAST = ["Franey", "Beier", "Erdman", "Glover", "Zieme", "Kreiger", "Rippin", "Bergnaum"]
DEPARTMENTS = [
    ("Sales", "Manchester", "Richard Roma"),
    ("Purchasing", "Manchester", "Naomi Lapaglia"),
    ("Production", "Leeds", "Chester Ming"),
    ("Dispatch", "Leds", "Mark Hanna"),
    ("Finance", "Manchester", "Jordan Belfort"),
    ("Facilities", "Manchester", "Shelley Levene"),
    ("Communications", None, None),
    ("HR", "Leeds", "James Link"),
]
DESIGN_WORDS = ["Steel", "Wooden", "Granite", "Bronze", "Cotton", "Plastic", "Frozen", "Soft"]
PAYMENT_TYPES = ["SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"]


@dataclass
class Generated:
    """What `generate` or `simulate` did: rows per table, and how long it took."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    updated_twice: list[int] = field(default_factory=list)


Row = tuple[Any, ...]


def _literal(value: Any) -> str:
    """A PostgreSQL literal for the generator's own values (fast: no parser involved)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    return "'" + str(value).replace("'", "''") + "'"


def _insert(table: str, columns: str, rows: Iterable[Row]) -> str:
    values = ",\n".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    return f"INSERT INTO {table} ({columns}) VALUES {values}"


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(f"{rng.uniform(low, high):.2f}")


def _day(moment: datetime, days: int) -> str:
    return (moment + timedelta(days=days)).date().isoformat()


class _Source:
    """Row factories that share one seeded generator and a moving clock."""

    def __init__(self, seed: int, now: datetime, counts: dict[str, int]) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.counts = counts

    def tick(self, seconds: float = 37.0) -> datetime:
        self.now += timedelta(seconds=self.rng.uniform(1, seconds), microseconds=1)
        return self.now

    def pick(self, table: str) -> int:
        return self.rng.randint(1, self.counts[table])

    def sales_order(self) -> Row:
        at = self.tick()
        return (
            self.pick("design"),
            self.pick("staff"),
            self.pick("counterparty"),
            self.rng.randint(1000, 100_000),
            _money(self.rng, 2.0, 4.0),
            self.pick("currency"),
            _day(at, self.rng.randint(1, 7)),
            _day(at, self.rng.randint(1, 7)),
            self.pick("address"),
            at,
            at,
        )

    def purchase_order(self) -> Row:
        at = self.tick()
        code = "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(7))
        return (
            self.pick("staff"),
            self.pick("counterparty"),
            code,
            self.rng.randint(1, 1000),
            _money(self.rng, 1.0, 1000.0),
            self.pick("currency"),
            _day(at, self.rng.randint(1, 7)),
            _day(at, self.rng.randint(1, 7)),
            self.pick("address"),
            at,
            at,
        )

    def payment(self, transaction_id: int, sale: bool, amount: Decimal) -> Row:
        at = self.now
        kind = 1 if sale else 3  # SALES_RECEIPT / PURCHASE_PAYMENT
        if self.rng.random() < 0.05:
            kind += 1  # a refund now and then
        return (
            transaction_id,
            self.pick("counterparty"),
            amount,
            self.pick("currency"),
            kind,
            self.rng.random() < 0.7,
            _day(at, self.rng.randint(1, 5)),
            f"{self.rng.randint(10_000_000, 99_999_999)}",
            f"{self.rng.randint(10_000_000, 99_999_999)}",
            at,
            at,
        )


SALES_COLUMNS = (
    "design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, "
    "agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, created_at, "
    "last_updated"
)
PURCHASE_COLUMNS = (
    "staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, "
    "agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, created_at, "
    "last_updated"
)
PAYMENT_COLUMNS = (
    "transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, "
    "payment_date, company_ac_number, counterparty_ac_number, created_at, last_updated"
)
TRANSACTION_COLUMNS = (
    "transaction_type, sales_order_id, purchase_order_id, created_at, last_updated"
)


def _dimensions(src: _Source) -> dict[str, tuple[str, list[Row]]]:
    rng, at = src.rng, src.now
    addresses = []
    for n in range(30):
        city, district, country = CITIES[n % len(CITIES)]
        line_2 = None if rng.random() < 0.4 else f"Flat {rng.randint(1, 90)}"
        addresses.append(
            (
                f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
                line_2,
                district if rng.random() < 0.8 else None,
                city,
                f"{rng.randint(10000, 99999)}",
                country,
                f"{rng.randint(1000, 9999)} {rng.randint(100000, 999999)}",
                at,
                at,
            )
        )
    counterparties = [
        (
            f"{rng.choice(COMPANIES)} {rng.choice(SUFFIXES)}",
            rng.randint(1, len(addresses)),
            None if rng.random() < 0.2 else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            None if rng.random() < 0.2 else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            at,
            at,
        )
        for _ in range(20)
    ]
    staff = []
    for n in range(20):
        first, last = FIRST[n % len(FIRST)], LAST[(n * 3) % len(LAST)]
        email = f"{first.lower()}.{last.lower()}{n}@terrifictotes.com"
        staff.append((first, last, rng.randint(1, len(DEPARTMENTS)), email, at, at))
    designs = [
        (
            f"{rng.choice(DESIGN_WORDS)}",
            rng.choice(["/usr/share", "/private", "/System", "/home/user/dir"]),
            f"{rng.choice(DESIGN_WORDS).lower()}-{at:%Y%m%d}-{rng.randint(1000, 9999)}.json",
            at,
            at,
        )
        for _ in range(300)
    ]
    return {
        "address": (
            "address_line_1, address_line_2, district, city, postal_code, country, phone, "
            "created_at, last_updated",
            addresses,
        ),
        "counterparty": (
            "counterparty_legal_name, legal_address_id, commercial_contact, delivery_contact, "
            "created_at, last_updated",
            counterparties,
        ),
        "currency": (
            "currency_code, created_at, last_updated",
            [(code, at, at) for code in ("GBP", "USD", "EUR")],
        ),
        "department": (
            "department_name, location, manager, created_at, last_updated",
            [(*d, at, at) for d in DEPARTMENTS],
        ),
        "design": ("design_name, file_location, file_name, created_at, last_updated", designs),
        "staff": (
            "first_name, last_name, department_id, email_address, created_at, last_updated",
            staff,
        ),
        "payment_type": (
            "payment_type_name, created_at, last_updated",
            [(name, at, at) for name in PAYMENT_TYPES],
        ),
    }


def _orders(
    src: _Source,
    sales: int,
    purchases: int,
    first_transaction: int,
    first_sale: int,
    first_purchase: int,
) -> dict[str, list[Row]]:
    """New sales and purchase orders with their transactions and payments."""
    out: dict[str, list[Row]] = {"sales_order": [], "purchase_order": [], "transaction": []}
    out["payment"] = []
    tid = first_transaction
    for n in range(sales + purchases):
        sale = n < sales
        row = src.sales_order() if sale else src.purchase_order()
        out["sales_order" if sale else "purchase_order"].append(row)
        order_id = (
            (first_sale + len(out["sales_order"]) - 1)
            if sale
            else (first_purchase + len(out["purchase_order"]) - 1)
        )
        at = row[-1]
        out["transaction"].append(
            ("SALE", order_id, None, at, at) if sale else ("PURCHASE", None, order_id, at, at)
        )
        amount = Decimal(row[3]) * row[4]  # units x unit price, either kind of order
        out["payment"].append(src.payment(tid, sale, amount.quantize(Decimal("0.01"))))
        tid += 1
    return out


def _execute(url: str | DatabaseUrl, statements: list[str]) -> None:
    with connect_postgres(url, autocommit=False) as con:
        with con.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        con.commit()


def _inserts(rows: dict[str, list[Row]]) -> list[str]:
    columns = {
        "sales_order": SALES_COLUMNS,
        "purchase_order": PURCHASE_COLUMNS,
        "transaction": TRANSACTION_COLUMNS,
        "payment": PAYMENT_COLUMNS,
    }
    statements = []
    for table in ("sales_order", "purchase_order", "transaction", "payment"):
        for start in range(0, len(rows[table]), 2000):
            chunk = rows[table][start : start + 2000]
            if chunk:
                statements.append(_insert(table, columns[table], chunk))
    return statements


def generate(
    url: str | DatabaseUrl,
    *,
    sales_orders: int = 10_000,
    seed: int = 42,
    schema: str = "public",
    start: datetime = START,
) -> Generated:
    """(Re)create the totesys tables in `schema` and fill them (deterministic for a seed)."""
    started = time.perf_counter()
    src = _Source(seed, start, {})
    dims = _dimensions(src)
    src.counts = {table: len(rows) for table, (_, rows) in dims.items()}
    purchases = max(sales_orders // 2, 1)
    orders = _orders(src, sales_orders, purchases, 1, 1, 1)
    statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}", f"SET search_path TO {schema}"]
    statements += [f"DROP TABLE IF EXISTS {t} CASCADE" for t in (*TABLES, "_prisma_migrations")]
    statements += list(DDL)
    statements += [_insert(t, cols, rows) for t, (cols, rows) in dims.items()]
    statements += _inserts(orders)
    statements.append(
        _insert(
            "_prisma_migrations",
            "id, checksum, migration_name, finished_at, applied_steps_count",
            [
                (f"0000000{n}-aaaa-bbbb-cccc-dddddddddddd", "f" * 64, f"{n}_init", start, 1)
                for n in range(2)
            ],
        )
    )
    _execute(url, statements)
    rows = {t: len(r) for t, (_, r) in dims.items()} | {t: len(r) for t, r in orders.items()}
    return Generated(rows, time.perf_counter() - started)


def _state(url: str | DatabaseUrl, schema: str) -> tuple[datetime, dict[str, int]]:
    """The newest last_updated anywhere and the row count of each table."""
    counts: dict[str, int] = {}
    newest = START
    with connect_postgres(url, autocommit=True) as con, con.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT count(*), max(last_updated) FROM {schema}.{table}")
            count, latest = cur.fetchone()
            counts[table] = int(count)
            if latest is not None and latest > newest:
                newest = latest
    return newest, counts


def simulate(
    url: str | DatabaseUrl,
    *,
    changes: int = 100,
    seed: int | None = None,
    schema: str = "public",
) -> Generated:
    """About `changes` row changes after the newest `last_updated`: new sales orders (with
    transactions and payments), updated sales orders (a tenth of them updated twice), and
    updated staff, counterparties, addresses and designs."""
    started = time.perf_counter()
    newest, counts = _state(url, schema)
    src = _Source(seed if seed is not None else int(newest.timestamp()), newest, counts)
    new_sales = max(changes // 3, 1)
    updates = max(changes // 2, 1)
    orders = _orders(src, new_sales, 0, counts["transaction"] + 1, counts["sales_order"] + 1, 0)
    statements = [f"SET search_path TO {schema}", *_inserts(orders)]
    ids = src.rng.sample(range(1, counts["sales_order"] + 1), min(updates, counts["sales_order"]))
    twice = ids[: max(len(ids) // 10, 1)]
    for order_id in [*ids, *twice]:
        statements.append(
            f"UPDATE sales_order SET units_sold = {src.rng.randint(1000, 100_000)}, "
            f"unit_price = {_money(src.rng, 2.0, 4.0)}, "
            f"last_updated = {_literal(src.tick())} "
            f"WHERE sales_order_id = {order_id}"
        )
    dimension_updates = {
        "staff": ("staff_id", "email_address", lambda n: f"'moved.{n}@terrifictotes.com'"),
        "counterparty": ("counterparty_id", "delivery_contact", lambda n: f"'Contact {n}'"),
        "address": ("address_id", "phone", lambda n: f"'0161 {n:06d}'"),
        "design": ("design_id", "design_name", lambda n: f"'Redesign {n}'"),
    }
    for table, (key, column, value) in dimension_updates.items():
        for row_id in src.rng.sample(range(1, counts[table] + 1), 2):
            statements.append(
                f"UPDATE {table} SET {column} = {value(row_id)}, "
                f"last_updated = {_literal(src.tick())} "
                f"WHERE {key} = {row_id}"
            )
    _execute(url, statements)
    rows = {t: len(r) for t, r in orders.items() if r}
    rows["sales_order updates"] = len(ids) + len(twice)
    rows["dimension updates"] = 2 * len(dimension_updates)
    return Generated(rows, time.perf_counter() - started, updated_twice=sorted(twice))
