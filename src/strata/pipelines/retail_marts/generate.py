"""The retail_marts sample source (seed 003): MySQL dimensions and sales CSV files to land.

Dimensions follow the seed's DDL and seed rows (seed-specs §4): 25 Delhi customers, stores
121-124 with their managers, the eight products and a sales team of ten (id 10 manages).
Sales files follow the seed's generators: the 500-row file, a one-date file of 400,000 rows,
1,000 rows with an extra `payment_mode`, 200 rows without `store_id` (the error path), and the
broken kinds a landing area sees: a latin-1 byte in a row, a truncated last row, a header with
no rows, an empty file. One more well-formed file has four rows whose customer, store,
salesperson or product is not in the dimensions (they must reach quarantine, not vanish in a
join). Everything is drawn from a seeded generator: the same seed, the same bytes (so the same
MD5s). The dimensions go to MySQL as in the seed, or to PostgreSQL (the embedded default).
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import sqlglot
from sqlglot import exp

from strata.db import DatabaseUrl, connect_postgres
from strata.db.mysql import connect_mysql
from strata.errors import ConfigError
from strata.files.landing import Landing

SALES_PREFIX = "sales_data"
SALES_COLUMNS = [
    "customer_id",
    "store_id",
    "product_name",
    "sales_date",
    "sales_person_id",
    "price",
    "quantity",
    "total_cost",
]
PRODUCTS = {
    "quaker oats": Decimal("212"),
    "sugar": Decimal("50"),
    "maida": Decimal("20"),
    "besan": Decimal("52"),
    "refined oil": Decimal("110"),
    "clinic plus": Decimal("1.5"),
    "dantkanti": Decimal("100"),
    "nutrella": Decimal("40"),
}
STORES = {121: "Manish", 122: "Nikita", 123: "vikash", 124: "Rakesh"}
SALESPEOPLE = {121: (1, 2, 3), 122: (4, 5, 6), 123: (7, 8, 9)}
FIRST_DAY, LAST_DAY = date(2023, 3, 3), date(2023, 8, 20)
BIG_FILE_DATE = date(2023, 5, 15)
CREATED = datetime(2023, 1, 1)
# Rows whose keys are not in the dimensions (the seed's inner joins dropped such rows silently).
UNKNOWN_KEYS = [
    ("customer_id", 99),
    ("store_id", 125),
    ("sales_person_id", 42),
    ("product_name", "ghee"),
]

DDL = [
    """CREATE TABLE customer (
        customer_id INT AUTO_INCREMENT PRIMARY KEY, first_name VARCHAR(50),
        last_name VARCHAR(50), address VARCHAR(255), pincode VARCHAR(10),
        phone_number VARCHAR(20), customer_joining_date DATE)""",
    """CREATE TABLE store (
        id INT PRIMARY KEY, address VARCHAR(255), store_pincode VARCHAR(10),
        store_manager_name VARCHAR(100), store_opening_date DATE, reviews TEXT)""",
    """CREATE TABLE product (
        id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255), current_price DECIMAL(10, 2),
        old_price DECIMAL(10, 2), created_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updated_date TIMESTAMP NULL DEFAULT NULL, expiry_date DATE)""",
    """CREATE TABLE sales_team (
        id INT AUTO_INCREMENT PRIMARY KEY, first_name VARCHAR(50), last_name VARCHAR(50),
        manager_id INT, is_manager CHAR(1), address VARCHAR(255), pincode VARCHAR(10),
        joining_date DATE)""",
]
FIRST_NAMES = ["Aarav", "Vivaan", "Aditya", "Ishaan", "Diya", "Ananya", "Saanvi", "Kavya"]
LAST_NAMES = ["Sharma", "Verma", "Gupta", "Singh", "Kumar", "Yadav", "Jain", "Mehta"]


@dataclass
class Generated:
    """What `generate` made: rows per dimension table and the landed files by kind."""

    tables: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    file_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> dict[str, int]:
        """Rows per dimension table, then lines after the header per landed file."""
        return {**self.tables, **self.file_rows}


def _name(rng: np.random.Generator) -> tuple[str, str]:
    return str(rng.choice(FIRST_NAMES)), str(rng.choice(LAST_NAMES))


Row = tuple[object, ...]


def _dimensions(rng: np.random.Generator) -> dict[str, list[Row]]:
    customers: list[Row] = []
    for number in range(1, 26):
        first, last = _name(rng)
        joined = date(2021, 1, 1) + timedelta(days=int(rng.integers(0, 700)))
        phone = f"9{int(rng.integers(100_000_000, 999_999_999))}"
        address = f"{number} Sector {int(rng.integers(1, 60))}, Delhi"
        customers.append((number, first, last, address, "122009", phone, joined))
    stores: list[Row] = [
        (sid, f"Store {sid}, Delhi", "122009", manager, date(2022, 1, 1), "good")
        for sid, manager in STORES.items()
    ]
    products: list[Row] = [
        (pid, name, price, price, CREATED, None, date(2025, 1, 1))
        for pid, (name, price) in enumerate(PRODUCTS.items(), start=1)
    ]
    team: list[Row] = []
    for person in range(1, 11):
        first, last = _name(rng)
        manager = None if person == 10 else 10
        team.append(
            (
                person,
                first,
                last,
                manager,
                "Y" if person == 10 else "N",
                "Delhi",
                "122009",
                date(2020, 6, 1),
            )
        )
    return {"customer": customers, "store": stores, "product": products, "sales_team": team}


def _sales_rows(rng: np.random.Generator, rows: int, day: date | None = None) -> list[list[object]]:
    """Rows as the seed's generator makes them: customers 1-20, stores 121-123 with their own
    salespeople, quantities 1-10, total_cost = price x quantity."""
    names = list(PRODUCTS)
    span = (LAST_DAY - FIRST_DAY).days
    customers = rng.integers(1, 21, rows)
    stores = rng.choice(list(SALESPEOPLE), rows)
    products = rng.integers(0, len(names), rows)
    quantities = rng.integers(1, 11, rows)
    offsets = rng.integers(0, span + 1, rows)
    people = rng.integers(0, 3, rows)
    out = []
    for i in range(rows):
        store = int(stores[i])
        name = names[int(products[i])]
        price, quantity = PRODUCTS[name], int(quantities[i])
        sold = day or FIRST_DAY + timedelta(days=int(offsets[i]))
        person = SALESPEOPLE[store][int(people[i])]
        out.append(
            [
                int(customers[i]),
                store,
                name,
                sold.isoformat(),
                person,
                price,
                quantity,
                price * quantity,
            ]
        )
    return out


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def sales_files(seed: int = 42, big_rows: int = 400_000) -> dict[str, tuple[str, bytes]]:
    """The landed files by kind: {kind: (file name, bytes)}."""
    rng = np.random.default_rng(seed)
    good = _sales_rows(rng, 500)
    extra = [[*row, str(rng.choice(["cash", "UPI"]))] for row in _sales_rows(rng, 1000)]
    missing = [row[:1] + row[2:] for row in _sales_rows(rng, 200)]
    no_store = [c for c in SALES_COLUMNS if c != "store_id"]
    broken_encoding = bytearray(_csv(SALES_COLUMNS, _sales_rows(rng, 50)))
    at = broken_encoding.index(b"sugar") if b"sugar" in broken_encoding else len(SALES_COLUMNS)
    broken_encoding[at : at + 1] = b"\xe9"  # latin-1 'é' where UTF-8 is expected
    truncated = _csv(SALES_COLUMNS, _sales_rows(rng, 40))
    truncated = truncated[: truncated.rstrip(b"\n").rfind(b",")] + b"\n"  # last row cut short
    unknown = _sales_rows(rng, 30)
    for row, (column, value) in zip(unknown, UNKNOWN_KEYS, strict=False):
        row[SALES_COLUMNS.index(column)] = value
    big_day = BIG_FILE_DATE.isoformat()
    return {
        "sales": ("sales_data.csv", _csv(SALES_COLUMNS, good)),
        "one_date": (f"sales_data_{big_day}.csv", _csv(SALES_COLUMNS, _big(rng, big_rows))),
        "extra_column": (
            "sales_data_extra_column.csv",
            _csv([*SALES_COLUMNS, "payment_mode"], extra),
        ),
        "missing_column": ("sales_data_missing_store.csv", _csv(no_store, missing)),
        "unknown_keys": ("sales_data_unknown_keys.csv", _csv(SALES_COLUMNS, unknown)),
        "bad_encoding": ("sales_data_bad_encoding.csv", bytes(broken_encoding)),
        "truncated": ("sales_data_truncated.csv", truncated),
        "header_only": ("sales_data_header_only.csv", _csv(SALES_COLUMNS, [])),
        "empty": ("sales_data_empty.csv", b""),
    }


def _big(rng: np.random.Generator, rows: int) -> list[list[object]]:
    return _sales_rows(rng, rows, BIG_FILE_DATE)


def _insert(table: str, rows: list[Row], dialect: str) -> str:
    values = ",\n".join(
        "(" + ", ".join(exp.convert(v).sql(dialect) for v in row) + ")" for row in rows
    )
    return f"INSERT INTO {table} VALUES {values}"


def _ddl(dialect: str) -> list[str]:
    """The seed's MySQL DDL, or its PostgreSQL translation (TIMESTAMP stays without time zone)."""
    if dialect == "mysql":
        return list(DDL)
    return [
        sqlglot.transpile(s, read="mysql", write="postgres")[0].replace("TIMESTAMPTZ", "TIMESTAMP")
        for s in DDL
    ]


def create_dimensions(url: str | DatabaseUrl, *, seed: int = 42) -> dict[str, int]:
    """(Re)create the dimension tables with the seed's rows in `url`'s database: MySQL as in
    the seed, or PostgreSQL (the embedded default). Returns rows per table."""
    parsed = url if isinstance(url, DatabaseUrl) else DatabaseUrl.parse(url)
    if parsed.kind not in ("mysql", "postgresql"):
        raise ConfigError(f"retail_marts dimensions need MySQL or PostgreSQL, not {parsed}")
    dialect = "mysql" if parsed.kind == "mysql" else "postgres"
    dimensions = _dimensions(np.random.default_rng(seed))
    statements = [f"DROP TABLE IF EXISTS {table}" for table in dimensions]
    statements += _ddl(dialect)
    statements += [_insert(table, rows, dialect) for table, rows in dimensions.items()]
    if parsed.kind == "mysql":
        mysql = connect_mysql(parsed, autocommit=True)
        try:
            with mysql.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            mysql.close()
    else:
        with connect_postgres(parsed, autocommit=True) as pg, pg.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    return {table: len(rows) for table, rows in dimensions.items()}


def land_sales_files(landing: Landing, made: Generated, *, seed: int, big_rows: int) -> None:
    """Write the sales files under `sales_data/`, recording them in `made`."""
    for kind, (name, body) in sales_files(seed, big_rows).items():
        landed = f"{SALES_PREFIX}/{name}"
        landing.write(landed, body)
        made.files[kind] = landed
        made.file_rows[landed] = max(body.count(b"\n") - 1, 0)


def generate(
    url: str | DatabaseUrl, landing: Landing, *, seed: int = 42, big_rows: int = 400_000
) -> Generated:
    """(Re)create the dimension tables in `url`'s database and land the sales files under
    `sales_data/` in `landing`."""
    started = time.perf_counter()
    made = Generated(create_dimensions(url, seed=seed))
    land_sales_files(landing, made, seed=seed, big_rows=big_rows)
    made.seconds = time.perf_counter() - started
    return made
