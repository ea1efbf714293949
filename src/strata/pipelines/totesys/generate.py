"""The totesys source (seed 004): Terrific Totes' OLTP database in PostgreSQL.

All eleven tables of seed-specs §5 with the seed's columns and quirks: agreed and payment
dates stored as `YYYY-MM-DD` text, nullable address lines, districts, contacts and department
details, money as NUMERIC(10, 2), account numbers as digit strings, every table with
`created_at` and `last_updated`; plus Prisma's `_prisma_migrations` table, which has neither
and which the ingestion must skip.

`generate()` drops and recreates the tables and fills them from numpy generators seeded with
`seed` (same arguments, same rows), loading each table with one binary COPY (ADBC), so the
default 10,000 sales orders take well under a second. Dimensions are created at `start`;
sales and purchase orders follow over up to two years (about 25 sales orders a day), each
with one transaction and one payment, some orders updated later and most payments settled on
their payment date (both only up to the last order: the data is a snapshot at that moment).

`simulate()` is the OLTP activity an incremental extract must pick up: new orders (with their
transactions and payments), corrections to existing sales orders (a few of them twice in one
call), settled payments, and edits to staff, counterparties, addresses and designs, now and
then a new staff member or design. Every change gets its own `last_updated`, strictly
increasing and later than anything already in the source.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from strata.db import DatabaseUrl, connect_postgres
from strata.errors import ConfigError

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.floating[Any]]

TABLES: tuple[str, ...] = (
    "address",
    "counterparty",
    "currency",
    "department",
    "design",
    "staff",
    "sales_order",
    "purchase_order",
    "payment",
    "payment_type",
    "transaction",
)
MIGRATIONS = "_prisma_migrations"
# Parents before children, for loads into tables whose foreign keys are in place.
LOAD_ORDER: tuple[str, ...] = (
    "address",
    "counterparty",
    "currency",
    "department",
    "design",
    "staff",
    "payment_type",
    "sales_order",
    "purchase_order",
    "transaction",
    "payment",
)

START = datetime(2022, 11, 3, 14, 20)
EPOCH = datetime(1970, 1, 1)
MS = 1_000
SECOND = 1_000 * MS
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# ---------------------------------------------------------------------------------------------
# Schema: one source of truth for the DDL and the Arrow schema of every table.

_ID = ("SERIAL", pa.int32())
_INT = ("INTEGER", pa.int32())
_VARCHAR = ("VARCHAR", pa.string())
_TEXT = ("TEXT", pa.string())
_CODE = ("VARCHAR(3)", pa.string())
_MONEY = ("NUMERIC(10, 2)", pa.decimal128(10, 2))
_BOOL = ("BOOLEAN", pa.bool_())
_TS = ("TIMESTAMP", pa.timestamp("us"))
_CREATED, _UPDATED = ("created_at", _TS), ("last_updated", _TS)

# Column order as in the seed's source (design has created_at second and last_updated last;
# the order tables and payment have both right after their id).
COLUMNS: dict[str, tuple[tuple[str, tuple[str, pa.DataType]], ...]] = {
    "address": (
        ("address_id", _ID),
        ("address_line_1", _VARCHAR),
        ("address_line_2", _VARCHAR),
        ("district", _VARCHAR),
        ("city", _VARCHAR),
        ("postal_code", _VARCHAR),
        ("country", _VARCHAR),
        ("phone", _VARCHAR),
        _CREATED,
        _UPDATED,
    ),
    "counterparty": (
        ("counterparty_id", _ID),
        ("counterparty_legal_name", _VARCHAR),
        ("legal_address_id", _INT),
        ("commercial_contact", _VARCHAR),
        ("delivery_contact", _VARCHAR),
        _CREATED,
        _UPDATED,
    ),
    "currency": (("currency_id", _ID), ("currency_code", _CODE), _CREATED, _UPDATED),
    "department": (
        ("department_id", _ID),
        ("department_name", _VARCHAR),
        ("location", _VARCHAR),
        ("manager", _VARCHAR),
        _CREATED,
        _UPDATED,
    ),
    "design": (
        ("design_id", _ID),
        _CREATED,
        ("design_name", _VARCHAR),
        ("file_location", _VARCHAR),
        ("file_name", _VARCHAR),
        _UPDATED,
    ),
    "staff": (
        ("staff_id", _ID),
        ("first_name", _VARCHAR),
        ("last_name", _VARCHAR),
        ("department_id", _INT),
        ("email_address", _VARCHAR),
        _CREATED,
        _UPDATED,
    ),
    "sales_order": (
        ("sales_order_id", _ID),
        _CREATED,
        _UPDATED,
        ("design_id", _INT),
        ("staff_id", _INT),
        ("counterparty_id", _INT),
        ("units_sold", _INT),
        ("unit_price", _MONEY),
        ("currency_id", _INT),
        ("agreed_delivery_date", _VARCHAR),
        ("agreed_payment_date", _VARCHAR),
        ("agreed_delivery_location_id", _INT),
    ),
    "purchase_order": (
        ("purchase_order_id", _ID),
        _CREATED,
        _UPDATED,
        ("staff_id", _INT),
        ("counterparty_id", _INT),
        ("item_code", _VARCHAR),
        ("item_quantity", _INT),
        ("item_unit_price", _MONEY),
        ("currency_id", _INT),
        ("agreed_delivery_date", _TEXT),
        ("agreed_payment_date", _TEXT),
        ("agreed_delivery_location_id", _INT),
    ),
    "payment": (
        ("payment_id", _ID),
        _CREATED,
        _UPDATED,
        ("transaction_id", _INT),
        ("counterparty_id", _INT),
        ("payment_amount", _MONEY),
        ("currency_id", _INT),
        ("payment_type_id", _INT),
        ("paid", _BOOL),
        ("payment_date", _TEXT),
        ("company_ac_number", _VARCHAR),
        ("counterparty_ac_number", _VARCHAR),
    ),
    "payment_type": (("payment_type_id", _ID), ("payment_type_name", _VARCHAR), _CREATED, _UPDATED),
    "transaction": (
        ("transaction_id", _ID),
        ("transaction_type", _VARCHAR),
        ("sales_order_id", _INT),
        ("purchase_order_id", _INT),
        _CREATED,
        _UPDATED,
    ),
}
NULLABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("address", "address_line_2"),
        ("address", "district"),
        ("counterparty", "commercial_contact"),
        ("counterparty", "delivery_contact"),
        ("department", "location"),
        ("department", "manager"),
        ("transaction", "sales_order_id"),
        ("transaction", "purchase_order_id"),
    }
)
# (table, column, referenced table): the reference is that table's primary key.
FOREIGN_KEYS: tuple[tuple[str, str, str], ...] = (
    ("counterparty", "legal_address_id", "address"),
    ("staff", "department_id", "department"),
    ("sales_order", "design_id", "design"),
    ("sales_order", "staff_id", "staff"),
    ("sales_order", "counterparty_id", "counterparty"),
    ("sales_order", "currency_id", "currency"),
    ("sales_order", "agreed_delivery_location_id", "address"),
    ("purchase_order", "staff_id", "staff"),
    ("purchase_order", "counterparty_id", "counterparty"),
    ("purchase_order", "currency_id", "currency"),
    ("purchase_order", "agreed_delivery_location_id", "address"),
    ("payment", "transaction_id", "transaction"),
    ("payment", "counterparty_id", "counterparty"),
    ("payment", "currency_id", "currency"),
    ("payment", "payment_type_id", "payment_type"),
    ("transaction", "sales_order_id", "sales_order"),
    ("transaction", "purchase_order_id", "purchase_order"),
)
CHECKS: dict[str, tuple[str, ...]] = {
    "transaction": (
        "(transaction_type = 'SALE' AND sales_order_id IS NOT NULL "
        "AND purchase_order_id IS NULL) OR (transaction_type = 'PURCHASE' "
        "AND purchase_order_id IS NOT NULL AND sales_order_id IS NULL)",
    ),
}
# Prisma's own bookkeeping table, as `prisma migrate` creates it.
_MIGRATIONS_COLUMNS = (
    "id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ, "
    "migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, "
    "started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0"
)


def primary_key(table: str) -> str:
    return COLUMNS[table][0][0]


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema whose columns COPY into `table` exactly as its DDL declares them."""
    return pa.schema(
        [
            pa.field(name, kind[1], nullable=(table, name) in NULLABLE)
            for name, kind in COLUMNS[table]
        ]
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str, table: str) -> str:
    return f"{_ident(schema)}.{_ident(table)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_statements(schema: str = "public") -> list[str]:
    """CREATE SCHEMA and CREATE TABLE (primary keys and checks, no foreign keys) for the eleven
    tables and `_prisma_migrations`."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}"]
    for table in TABLES:
        parts = [
            f"{_ident(name)} {kind[0]}"
            + (" PRIMARY KEY" if kind is _ID else "")
            + ("" if (table, name) in NULLABLE or kind is _ID else " NOT NULL")
            for name, kind in COLUMNS[table]
        ]
        parts += [f"CHECK ({check})" for check in CHECKS.get(table, ())]
        statements.append(f"CREATE TABLE {_qualified(schema, table)} ({', '.join(parts)})")
    statements.append(f"CREATE TABLE {_qualified(schema, MIGRATIONS)} ({_MIGRATIONS_COLUMNS})")
    return statements


def foreign_key_statements(schema: str = "public") -> list[str]:
    return [
        f"ALTER TABLE {_qualified(schema, table)} ADD CONSTRAINT "
        f"{_ident(f'{table}_{column}_fkey')} FOREIGN KEY ({_ident(column)}) "
        f"REFERENCES {_qualified(schema, parent)} ({_ident(primary_key(parent))})"
        for table, column, parent in FOREIGN_KEYS
    ]


def ddl(schema: str = "public") -> list[str]:
    """Every statement that creates the totesys schema (tables, then foreign keys)."""
    return create_statements(schema) + foreign_key_statements(schema)


DDL: tuple[str, ...] = tuple(ddl())

# ---------------------------------------------------------------------------------------------
# Reference data. Postcode and phone templates: `#` a digit, `@` a letter.

PLACES: tuple[tuple[str, str | None, str, str, str], ...] = (
    ("Manchester", "Greater Manchester", "United Kingdom", "M# #@@", "0161 ### ####"),
    ("Leeds", "West Yorkshire", "United Kingdom", "LS# #@@", "0113 ### ####"),
    ("London", "Greater London", "United Kingdom", "EC#@ #@@", "020 #### ####"),
    ("Liverpool", "Merseyside", "United Kingdom", "L# #@@", "0151 ### ####"),
    ("Bristol", None, "United Kingdom", "BS# #@@", "0117 ### ####"),
    ("Glasgow", None, "United Kingdom", "G# #@@", "0141 ### ####"),
    ("Birmingham", "West Midlands", "United Kingdom", "B# #@@", "0121 ### ####"),
    ("New York", "New York", "United States", "100##", "+1 212 ### ####"),
    ("Chicago", "Illinois", "United States", "606##", "+1 312 ### ####"),
    ("Austin", "Texas", "United States", "787##", "+1 512 ### ####"),
    ("Seattle", "Washington", "United States", "981##", "+1 206 ### ####"),
    ("Berlin", None, "Germany", "10###", "+49 30 ### ####"),
    ("Munich", "Bavaria", "Germany", "80###", "+49 89 ### ####"),
    ("Paris", "Île-de-France", "France", "750##", "+33 1 ## ## ####"),
    ("Lyon", "Auvergne-Rhône-Alpes", "France", "6900#", "+33 4 ## ## ####"),
    ("Madrid", "Community of Madrid", "Spain", "280##", "+34 91 ### ####"),
    ("Amsterdam", "North Holland", "Netherlands", "10## @@", "+31 20 ### ####"),
    ("Dublin", "County Dublin", "Ireland", "D0# @###", "+353 1 ### ####"),
    ("Milan", "Lombardy", "Italy", "201##", "+39 02 ### ####"),
)
PREMISES = 4  # the first addresses: Terrific Totes' own sites in Manchester and Leeds
STREETS: dict[str, tuple[str, ...]] = {
    "United Kingdom": (
        "Station Road", "Mill Lane", "Church Street", "Victoria Road", "Hospital Hill",
        "Green Lane", "Manor Road", "Queen Street", "Deansgate", "Albion Street",
    ),
    "United States": (
        "Main Street", "Oak Avenue", "Maple Drive", "Washington Boulevard", "Lake Shore Drive",
        "Park Avenue", "Congress Avenue",
    ),
    "Germany": ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee"),
    "France": ("Rue de la Paix", "Avenue Victor Hugo", "Rue du Moulin", "Boulevard Voltaire"),
    "Spain": ("Calle Mayor", "Gran Vía", "Calle de Alcalá", "Paseo del Prado"),
    "Netherlands": ("Kerkstraat", "Prinsengracht", "Damrak", "Keizersgracht"),
    "Ireland": ("Grafton Street", "Dame Street", "Harcourt Road", "Baggot Street"),
    "Italy": ("Via Roma", "Corso Buenos Aires", "Via Dante", "Via Torino"),
}  # fmt: skip
NUMBER_AFTER_STREET = frozenset({"Germany", "Spain", "Netherlands", "Italy"})
UNITS = ("Flat", "Suite", "Unit", "Floor")
HOME_CURRENCY = {"United Kingdom": "GBP", "United States": "USD"}  # elsewhere EUR
CURRENCIES = ("GBP", "USD", "EUR")
PAYMENT_TYPES = ("SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND")
SALE, PURCHASE = "SALE", "PURCHASE"

COMPANY_NAMES = (
    "Fahey", "Leannon", "Armstrong", "Kohler", "Frami", "Mraz", "Padberg", "Grant", "Price",
    "Bosco", "Hermann", "Jacobson", "Yost", "Moen", "Kling", "Bechtelar", "Predovic", "Morar",
    "Lueilwitz", "Johnson", "Lakin", "Yundt", "Macejkovic", "Rempel", "Schuster", "Weimann",
    "Wolff", "Zieme", "Hahn", "Ledner",
)  # fmt: skip
COMPANY_FORMS = (
    "{a} and Sons", "{a} Inc", "{a} LLC", "{a} Group", "{a} Ltd", "{a}, {b} and {c}", "{a} - {b}",
)  # fmt: skip
FIRST_NAMES = (
    "Jeremie", "Deron", "Jeanette", "Ana", "Magdalena", "Korey", "Raphael", "Oswaldo", "Brody",
    "Jazmyn", "Meda", "Imani", "Stan", "Rigoberto", "Tom", "Pierre", "Lucy", "Micheal",
    "Yolanda", "Isaiah", "Irving", "Mitchell", "Florence", "Gordon", "Hazel", "Omar", "Priya",
    "Wei", "Sofia", "Lars",
)  # fmt: skip
LAST_NAMES = (
    "Franey", "Beier", "Erdman", "Glover", "Zieme", "Kreiger", "Rippin", "Bergnaum", "Crist",
    "Fritsch", "Kling", "Pollich", "Lehner", "Howell", "Hartmann", "Bosco", "Schmidt", "Okafor",
    "Walsh", "Novak", "Rossi", "Dubois", "Jansen", "Murphy", "Patel", "Chen",
)  # fmt: skip
TITLES = ("", "", "", "", "", "", "Dr. ", "Prof. ")
# (name, location, manager): one without a location and one without a manager (both nullable).
DEPARTMENTS: tuple[tuple[str, str | None, str | None], ...] = (
    ("Sales", "Manchester", "Richard Roma"),
    ("Purchasing", "Manchester", "Naomi Lapaglia"),
    ("Production", "Leeds", "Chester Ming"),
    ("Dispatch", "Leeds", "Mark Hanna"),
    ("Finance", "Manchester", "Jordan Belfort"),
    ("Facilities", "Manchester", "Shelley Levene"),
    ("Communications", None, "Ainsley Jenkins"),
    ("HR", "Leeds", None),
)
DEPARTMENT_WEIGHTS = (6, 3, 3, 2, 2, 1, 1, 2)
MATERIALS = (
    "Wooden", "Steel", "Granite", "Bronze", "Cotton", "Plastic", "Frozen", "Soft", "Rubber",
    "Metal", "Concrete", "Fresh", "Golden", "Silver", "Linen", "Leather", "Velvet", "Denim",
    "Canvas", "Jute", "Recycled", "Bamboo", "Hemp", "Woollen",
)  # fmt: skip
FILE_LOCATIONS = (
    "/usr", "/usr/share", "/usr/local/src", "/private", "/private/var", "/System", "/Users",
    "/Library", "/home/user/dir", "/etc/defaults", "/opt/bin", "/opt/share", "/var/lib",
)  # fmt: skip
EMAIL_DOMAIN = "terrifictotes.com"

ADDRESSES, COUNTERPARTIES, STAFF, DESIGNS, FIRST_DESIGNS = 30, 20, 20, 300, 100
SALES_PER_DAY = 25
MAX_DAYS = 730
LATE_UPDATE_SHARE = 0.1  # sales orders changed after creation (before the snapshot)
REFUND_SHARE = 0.02
OVERDUE_SHARE = 0.03  # payments still unpaid after their payment date
HOME_CURRENCY_SHARE = 0.85
LEGAL_ADDRESS_DELIVERY_SHARE = 0.5

_ALNUM = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", dtype=np.uint8)
_LOWER = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# Random streams, one per part: changing one part's rules leaves the others' data unchanged.
_ADDRESS, _COUNTERPARTY, _STAFF, _DESIGN, _SALES, _PURCHASES = 1, 2, 3, 4, 5, 6
_PAYMENTS, _MIGRATION_ROWS, _SIMULATE, _WEIGHTS = 7, 8, 9, 10

# ---------------------------------------------------------------------------------------------
# Small helpers.


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _us(moment: datetime) -> int:
    """Microseconds since 1970 of a naive (UTC) or aware datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - EPOCH) // timedelta(microseconds=1)


def _datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def _ms(us: Any) -> Ints:
    """Truncated to whole milliseconds, as the seed's timestamps are."""
    return np.asarray(us, dtype=np.int64) // MS * MS


def _int32(values: Any, mask: Any = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int32), type=pa.int32(), mask=mask)


def _timestamps(us: Any) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64)).cast(pa.timestamp("us"))


def _money(cents: Any) -> pa.Array:
    """Integer cents as decimal128(10, 2), built from two's-complement words."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(10, 2), len(cents), [None, pa.py_buffer(words)])


def _days_text(days: Any) -> pa.Array:
    """Day numbers (since 1970) as 'YYYY-MM-DD' strings."""
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32()).cast(pa.string())


def _codes(rng: np.random.Generator, alphabet: npt.NDArray[np.uint8], n: int, width: int) -> Any:
    """`n` random strings of `width` characters from `alphabet` (vectorised)."""
    chars = alphabet[rng.integers(0, len(alphabet), (n, width))]
    raw = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), n, [None, pa.py_buffer(np.ascontiguousarray(chars).tobytes())]
    )
    return raw.cast(pa.binary()).cast(pa.string())


def _accounts(ids: Any, salt: int) -> pa.Array:
    """A stable 8-digit account number per id (a company's per currency, a counterparty's)."""
    ids = np.asarray(ids, dtype=np.int64)
    digits = (ids * 48_271 + salt) * 7_919 % 90_000_000 + 10_000_000
    return pc.cast(pa.array(digits), pa.string())


_COMPANY_SALT, _COUNTERPARTY_SALT = 1_234_567, 7_654_321


def _pick(rng: np.random.Generator, pool: Ints, n: int, weights: Floats | None = None) -> Ints:
    if weights is None:
        return np.asarray(pool[rng.integers(0, len(pool), n)], dtype=np.int64)
    cdf = np.cumsum(weights) / np.sum(weights)
    index = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(pool) - 1)
    return np.asarray(pool[index], dtype=np.int64)


def _table(name: str, columns: dict[str, Any]) -> pa.Table:
    schema = arrow_schema(name)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _fill(rng: np.random.Generator, template: str) -> str:
    out = []
    for char in template:
        if char == "#":
            out.append(str(int(rng.integers(0, 10))))
        elif char == "@":
            out.append(_POSTCODE_LETTERS[int(rng.integers(0, len(_POSTCODE_LETTERS)))])
        else:
            out.append(char)
    return "".join(out)


def _choice(rng: np.random.Generator, values: tuple[str, ...]) -> str:
    return values[int(rng.integers(0, len(values)))]


def _person(rng: np.random.Generator) -> str:
    return f"{_choice(rng, FIRST_NAMES)} {_choice(rng, LAST_NAMES)}"


def _email(first: str, last: str, suffix: str = "") -> str:
    return f"{first.lower()}.{last.lower()}{suffix}@{EMAIL_DOMAIN}"


def _file_name(rng: np.random.Generator, name: str, created_us: int) -> str:
    letters = "".join(chr(c) for c in _LOWER[rng.integers(0, len(_LOWER), 4)])
    return f"{name.lower()}-{_datetime(created_us):%Y%m%d}-{letters}.json"


def _stamped(columns: dict[str, Any], created: Any, updated: Any | None = None) -> dict[str, Any]:
    n = len(next(iter(columns.values())))
    created = np.broadcast_to(np.asarray(created, dtype=np.int64), (n,))
    updated = created if updated is None else np.asarray(updated, dtype=np.int64)
    return {**columns, "created_at": _timestamps(created), "last_updated": _timestamps(updated)}


# ---------------------------------------------------------------------------------------------
# Dimensions (small: plain Python loops over a seeded generator).


@dataclass
class _Refs:
    """What new orders may reference, and how they pick it."""

    sales_staff: Ints  # staff ids, Sales staff repeated (favoured)
    purchase_staff: Ints  # staff ids, Purchasing staff repeated
    counterparties: Ints
    counterparty_weights: Floats | None
    home_currency: Ints  # per counterparty (aligned with `counterparties`)
    legal_address: Ints  # per counterparty
    currencies: Ints
    addresses: Ints
    premises: Ints  # where purchases are delivered
    payment_types: dict[str, int]


def _staff_pools(ids: Ints, departments: list[str]) -> tuple[Ints, Ints]:
    names = np.array(departments, dtype=object)
    sales = np.concatenate([ids, np.repeat(ids[names == "Sales"], 3)])
    purchases = np.concatenate([ids, np.repeat(ids[names == "Purchasing"], 3)])
    return sales.astype(np.int64), purchases.astype(np.int64)


def _addresses(rng: np.random.Generator, at: int) -> tuple[pa.Table, list[str]]:
    places = [0, 1, 0, 1, *rng.integers(0, len(PLACES), ADDRESSES - PREMISES).tolist()]
    columns: dict[str, list[Any]] = {
        name: [] for name, _ in COLUMNS["address"] if name not in ("created_at", "last_updated")
    }
    for n, place in enumerate(places):
        city, district, country, postcode, phone = PLACES[place]
        street = _choice(rng, STREETS[country])
        number = int(rng.integers(1, 250))
        columns["address_id"].append(n + 1)
        columns["address_line_1"].append(
            f"{street} {number}" if country in NUMBER_AFTER_STREET else f"{number} {street}"
        )
        unit = f"{_choice(rng, UNITS)} {int(rng.integers(1, 40))}"
        columns["address_line_2"].append(unit if rng.random() < 0.55 else None)
        columns["district"].append(district if rng.random() < 0.8 else None)
        columns["city"].append(city)
        columns["postal_code"].append(_fill(rng, postcode))
        columns["country"].append(country)
        columns["phone"].append(_fill(rng, phone))
    columns["address_id"] = _int32(columns["address_id"])
    return _table("address", _stamped(columns, np.full(ADDRESSES, at))), columns["country"]


def _company_names(rng: np.random.Generator, count: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        a, b, c = (COMPANY_NAMES[i] for i in rng.choice(len(COMPANY_NAMES), 3, replace=False))
        name = _choice(rng, COMPANY_FORMS).format(a=a, b=b, c=c)
        if name not in names:
            names.append(name)
    return names


def _counterparties(
    rng: np.random.Generator, at: int, countries: list[str]
) -> tuple[pa.Table, Ints, Ints]:
    """Counterparties, each with its own legal address (never a Terrific Totes site); also
    their legal address ids and home currency ids (1-based, in CURRENCIES order)."""
    legal = np.sort(rng.choice(np.arange(PREMISES + 1, ADDRESSES + 1), COUNTERPARTIES, False))
    names = _company_names(rng, COUNTERPARTIES)
    contacts = [
        [None if rng.random() < 0.15 else _choice(rng, TITLES) + _person(rng) for _ in names]
        for _ in range(2)
    ]
    home = np.array(
        [CURRENCIES.index(HOME_CURRENCY.get(countries[i - 1], "EUR")) + 1 for i in legal],
        dtype=np.int64,
    )
    columns = {
        "counterparty_id": _int32(np.arange(1, COUNTERPARTIES + 1)),
        "counterparty_legal_name": pa.array(names, pa.string()),
        "legal_address_id": _int32(legal),
        "commercial_contact": pa.array(contacts[0], pa.string()),
        "delivery_contact": pa.array(contacts[1], pa.string()),
    }
    return _table("counterparty", _stamped(columns, at)), legal.astype(np.int64), home


def _staff(rng: np.random.Generator, at: int) -> tuple[pa.Table, list[str]]:
    pairs = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), STAFF, replace=False)
    first = [FIRST_NAMES[p // len(LAST_NAMES)] for p in pairs]
    last = [LAST_NAMES[p % len(LAST_NAMES)] for p in pairs]
    weights = np.asarray(DEPARTMENT_WEIGHTS, dtype=np.float64)
    departments = _pick(rng, np.arange(1, len(DEPARTMENTS) + 1), STAFF, weights)
    columns = {
        "staff_id": _int32(np.arange(1, STAFF + 1)),
        "first_name": pa.array(first, pa.string()),
        "last_name": pa.array(last, pa.string()),
        "department_id": _int32(departments),
        "email_address": pa.array(
            [_email(f, s) for f, s in zip(first, last, strict=True)], pa.string()
        ),
    }
    names = [DEPARTMENTS[d - 1][0] for d in departments]
    return _table("staff", _stamped(columns, at)), names


def _designs(rng: np.random.Generator, created: Ints) -> pa.Table:
    names = [_choice(rng, MATERIALS) for _ in created]
    columns = {
        "design_id": _int32(np.arange(1, len(created) + 1)),
        "design_name": pa.array(names, pa.string()),
        "file_location": pa.array([_choice(rng, FILE_LOCATIONS) for _ in created], pa.string()),
        "file_name": pa.array(
            [_file_name(rng, name, int(at)) for name, at in zip(names, created, strict=True)],
            pa.string(),
        ),
    }
    return _table("design", _stamped(columns, created))


def _fixed(at: int) -> dict[str, pa.Table]:
    """currency, department and payment_type: the same rows for every seed."""

    def ids(n: int) -> pa.Array:
        return _int32(np.arange(1, n + 1))

    return {
        "currency": _table(
            "currency",
            _stamped(
                {"currency_id": ids(len(CURRENCIES)), "currency_code": pa.array(CURRENCIES)}, at
            ),
        ),
        "department": _table(
            "department",
            _stamped(
                {
                    "department_id": ids(len(DEPARTMENTS)),
                    "department_name": pa.array([d[0] for d in DEPARTMENTS]),
                    "location": pa.array([d[1] for d in DEPARTMENTS], pa.string()),
                    "manager": pa.array([d[2] for d in DEPARTMENTS], pa.string()),
                },
                at,
            ),
        ),
        "payment_type": _table(
            "payment_type",
            _stamped(
                {
                    "payment_type_id": ids(len(PAYMENT_TYPES)),
                    "payment_type_name": pa.array(PAYMENT_TYPES),
                },
                at,
            ),
        ),
    }


# ---------------------------------------------------------------------------------------------
# Orders, transactions and payments (vectorised).


@dataclass
class _Orders:
    """New orders of one kind, what their transactions and payments need."""

    kind: str  # SALE or PURCHASE
    table: pa.Table
    ids: Ints
    created: Ints
    counterparty: Ints
    currency: Ints
    cents: Ints  # order value
    payment_day: Ints  # days since 1970


def _currency(rng: np.random.Generator, refs: _Refs, counterparty: Ints) -> Ints:
    position = np.searchsorted(refs.counterparties, counterparty)
    home = refs.home_currency[position]
    other = _pick(rng, refs.currencies, len(counterparty))
    return np.where(rng.random(len(counterparty)) < HOME_CURRENCY_SHARE, home, other)


def _sales(
    rng: np.random.Generator,
    refs: _Refs,
    ids: Ints,
    created: Ints,
    updated: Ints,
    designs: Ints,
) -> _Orders:
    n = len(ids)
    counterparty = _pick(rng, refs.counterparties, n, refs.counterparty_weights)
    units = rng.integers(1_000, 100_001, n)
    cents = rng.integers(200, 401, n)
    day = created // DAY
    payment_day = day + rng.integers(1, 15, n)
    legal = refs.legal_address[np.searchsorted(refs.counterparties, counterparty)]
    location = np.where(
        rng.random(n) < LEGAL_ADDRESS_DELIVERY_SHARE, legal, _pick(rng, refs.addresses, n)
    )
    currency = _currency(rng, refs, counterparty)
    columns = {
        "sales_order_id": _int32(ids),
        "design_id": _int32(designs),
        "staff_id": _int32(_pick(rng, refs.sales_staff, n)),
        "counterparty_id": _int32(counterparty),
        "units_sold": _int32(units),
        "unit_price": _money(cents),
        "currency_id": _int32(currency),
        "agreed_delivery_date": _days_text(day + rng.integers(2, 11, n)),
        "agreed_payment_date": _days_text(payment_day),
        "agreed_delivery_location_id": _int32(location),
    }
    table = _table("sales_order", _stamped(columns, created, updated))
    return _Orders(SALE, table, ids, created, counterparty, currency, units * cents, payment_day)


def _purchases(
    rng: np.random.Generator,
    refs: _Refs,
    ids: Ints,
    created: Ints,
    updated: Ints,
) -> _Orders:
    """Purchase orders for items of a small catalogue (popular items bought again and again,
    at prices within 10% of the item's list price)."""
    n = len(ids)
    items = max(20, n // 25)
    codes = _codes(rng, _ALNUM, items, 7)
    list_cents = np.exp(rng.uniform(np.log(100), np.log(50_000), items))
    item = _pick(rng, np.arange(items), n, 1.0 / np.arange(1, items + 1) ** 0.8)
    cents = np.rint(list_cents[item] * rng.uniform(0.9, 1.1, n)).astype(np.int64)
    quantity = rng.integers(2, 1_001, n)
    counterparty = _pick(rng, refs.counterparties, n, refs.counterparty_weights)
    currency = _currency(rng, refs, counterparty)
    day = created // DAY
    payment_day = day + rng.integers(1, 46, n)
    columns = {
        "purchase_order_id": _int32(ids),
        "staff_id": _int32(_pick(rng, refs.purchase_staff, n)),
        "counterparty_id": _int32(counterparty),
        "item_code": pc.take(codes, pa.array(item)),
        "item_quantity": _int32(quantity),
        "item_unit_price": _money(cents),
        "currency_id": _int32(currency),
        "agreed_delivery_date": _days_text(day + rng.integers(3, 22, n)),
        "agreed_payment_date": _days_text(payment_day),
        "agreed_delivery_location_id": _int32(_pick(rng, refs.premises, n)),
    }
    table = _table("purchase_order", _stamped(columns, created, updated))
    return _Orders(
        PURCHASE, table, ids, created, counterparty, currency, quantity * cents, payment_day
    )


def _transactions_and_payments(
    rng: np.random.Generator,
    refs: _Refs,
    orders: tuple[_Orders, _Orders],
    first_id: int,
    settled_by: int | None,
) -> tuple[pa.Table, pa.Table]:
    """One transaction and one payment per order, numbered in time order from `first_id`
    (payment ids = transaction ids). With `settled_by` (a moment), payments whose date has
    come by then are paid on that date (last_updated then), all but an overdue few."""
    sales, purchases = orders
    kinds = np.concatenate([np.zeros(len(sales.ids)), np.ones(len(purchases.ids))]).astype(bool)
    created = np.concatenate([sales.created, purchases.created])
    order = np.argsort(created, kind="stable")

    def merged(name: str) -> Ints:
        both = np.concatenate([getattr(sales, name), getattr(purchases, name)])
        return np.asarray(both[order], dtype=np.int64)

    kinds, created = kinds[order], created[order]
    order_ids = merged("ids")
    n = len(order_ids)
    ids = first_id + np.arange(n, dtype=np.int64)
    transactions = _table(
        "transaction",
        _stamped(
            {
                "transaction_id": _int32(ids),
                "transaction_type": pc.if_else(pa.array(kinds), PURCHASE, SALE),
                "sales_order_id": _int32(order_ids, mask=kinds),
                "purchase_order_id": _int32(order_ids, mask=~kinds),
            },
            created,
        ),
    )
    types = refs.payment_types
    refund = rng.random(n) < REFUND_SHARE
    type_id = np.where(
        kinds,
        np.where(refund, types["PURCHASE_REFUND"], types["PURCHASE_PAYMENT"]),
        np.where(refund, types["SALES_REFUND"], types["SALES_RECEIPT"]),
    )
    cents = merged("cents")
    cents = np.where(refund, np.rint(cents * rng.uniform(0.05, 1.0, n)), cents).astype(np.int64)
    payment_day = merged("payment_day")
    paid_at = _ms(payment_day * DAY + rng.integers(9 * HOUR, 17 * HOUR, n))
    if settled_by is None:
        paid = np.zeros(n, dtype=bool)
    else:
        paid = (paid_at <= settled_by) & (rng.random(n) >= OVERDUE_SHARE)
    counterparty, currency = merged("counterparty"), merged("currency")
    payments = _table(
        "payment",
        _stamped(
            {
                "payment_id": _int32(ids),
                "transaction_id": _int32(ids),
                "counterparty_id": _int32(counterparty),
                "payment_amount": _money(cents),
                "currency_id": _int32(currency),
                "payment_type_id": _int32(type_id),
                "paid": pa.array(paid),
                "payment_date": _days_text(payment_day),
                "company_ac_number": _accounts(currency, _COMPANY_SALT),
                "counterparty_ac_number": _accounts(counterparty, _COUNTERPARTY_SALT),
            },
            created,
            np.where(paid, np.maximum(paid_at, created), created),
        ),
    )
    return transactions, payments


def _times(rng: np.random.Generator, n: int, start_us: int, span_us: float) -> Ints:
    """`n` strictly increasing millisecond moments after `start_us`, about `span_us` in all."""
    mean_ms = span_us / MS / max(n, 1)
    gaps = (1 + np.floor(rng.exponential(mean_ms, n))).astype(np.int64) * MS
    return _ms(start_us) + SECOND + np.cumsum(gaps)


def _later(rng: np.random.Generator, created: Ints, until: int, share: float) -> Ints:
    """For a `share` of rows a moment 1 hour to 14 days after creation (if not after `until`),
    else the creation time."""
    later = _ms(created + rng.integers(HOUR, 14 * DAY, len(created)))
    moved = (rng.random(len(created)) < share) & (later <= until)
    return np.where(moved, later, created)


# ---------------------------------------------------------------------------------------------
# Loading.


def _connect(url: str | DatabaseUrl) -> Any:
    parsed = url if isinstance(url, DatabaseUrl) else DatabaseUrl.parse(url)
    if parsed.kind != "postgresql":
        raise ConfigError(f"the totesys source database must be PostgreSQL, not {parsed}")
    return connect_postgres(parsed)


def _sync_sequences(cur: Any, schema: str, tables: tuple[str, ...] = TABLES) -> None:
    """Point each SERIAL at max(id) + 1, so inserts without an id (psql, the seed's own tools)
    keep working after rows were loaded with explicit ids."""
    for table in tables:
        key, target = primary_key(table), _qualified(schema, table)
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence({_literal(target)}, {_literal(key)}), "
            f"coalesce(max({_ident(key)}), 0) + 1, false) FROM {target}"
        )
        cur.fetchall()


def _migration_rows(seed: int, start: datetime) -> str:
    rng = _rng(seed, _MIGRATION_ROWS)
    rows = []
    for name, before in (("init", timedelta(days=2)), ("seed_data", timedelta(seconds=95))):
        at = start - before
        moment = f"TIMESTAMPTZ {_literal(f'{at:%Y-%m-%d %H:%M:%S}+00')}"
        rows.append(
            f"({_literal(str(uuid.UUID(bytes=rng.bytes(16), version=4)))}, "
            f"{_literal(rng.bytes(32).hex())}, {moment}, "
            f"{_literal(f'{at:%Y%m%d%H%M%S}_{name}')}, NULL, NULL, {moment}, 1)"
        )
    return ", ".join(rows)


# ---------------------------------------------------------------------------------------------
# generate


@dataclass
class Generated:
    """What `generate` loaded: rows per table, the newest `last_updated`, the wall time."""

    rows: dict[str, int]
    seconds: float
    newest: datetime | None = None


def generate(
    url: str | DatabaseUrl,
    *,
    sales_orders: int = 10_000,
    seed: int = 42,
    schema: str = "public",
    start: datetime = START,
    on_progress: Callable[[str, int], None] | None = None,
) -> Generated:
    """Drop and recreate the totesys tables in `schema` and fill them: fixed-size dimensions
    created at `start`, then `sales_orders` sales orders and half as many purchase orders over
    up to two years, one transaction and one payment each. Deterministic for `seed`.

    `on_progress(table, rows)` is called after each table is loaded."""
    if sales_orders < 1:
        raise ConfigError(f"sales_orders must be at least 1, got {sales_orders}")
    started = time.perf_counter()
    at = int(_ms(_us(start)))
    span = min(sales_orders / SALES_PER_DAY, MAX_DAYS) * DAY
    purchase_orders = sales_orders // 2

    sales_rng, purchase_rng = _rng(seed, _SALES), _rng(seed, _PURCHASES)
    sales_created = _times(sales_rng, sales_orders, at, span)
    purchase_created = _times(purchase_rng, purchase_orders, at, span)
    end = int(max(sales_created[-1], purchase_created[-1] if purchase_orders else at))

    tables = _fixed(at)
    tables["address"], countries = _addresses(_rng(seed, _ADDRESS), at)
    tables["counterparty"], legal, home = _counterparties(_rng(seed, _COUNTERPARTY), at, countries)
    tables["staff"], departments = _staff(_rng(seed, _STAFF), at)
    design_rng = _rng(seed, _DESIGN)
    design_created = np.concatenate(
        [
            np.full(FIRST_DESIGNS, at),
            np.sort(_ms(design_rng.integers(at, end + 1, DESIGNS - FIRST_DESIGNS))),
        ]
    )
    tables["design"] = _designs(design_rng, design_created)

    staff_ids = np.arange(1, STAFF + 1, dtype=np.int64)
    sales_staff, purchase_staff = _staff_pools(staff_ids, departments)
    refs = _Refs(
        sales_staff=sales_staff,
        purchase_staff=purchase_staff,
        counterparties=np.arange(1, COUNTERPARTIES + 1, dtype=np.int64),
        counterparty_weights=1.0 / (_rng(seed, _WEIGHTS).permutation(COUNTERPARTIES) + 1.0),
        home_currency=home,
        legal_address=legal,
        currencies=np.arange(1, len(CURRENCIES) + 1, dtype=np.int64),
        addresses=np.arange(1, ADDRESSES + 1, dtype=np.int64),
        premises=np.arange(1, PREMISES + 1, dtype=np.int64),
        payment_types={name: i + 1 for i, name in enumerate(PAYMENT_TYPES)},
    )
    # A sales order is for a design that existed when it was made.
    existing = np.searchsorted(design_created, sales_created, side="right")
    designs = np.floor(sales_rng.random(sales_orders) * existing).astype(np.int64) + 1
    sales = _sales(
        sales_rng,
        refs,
        np.arange(1, sales_orders + 1, dtype=np.int64),
        sales_created,
        _later(sales_rng, sales_created, end, LATE_UPDATE_SHARE),
        designs,
    )
    purchases = _purchases(
        purchase_rng,
        refs,
        np.arange(1, purchase_orders + 1, dtype=np.int64),
        purchase_created,
        purchase_created,
    )
    tables["sales_order"], tables["purchase_order"] = sales.table, purchases.table
    tables["transaction"], tables["payment"] = _transactions_and_payments(
        _rng(seed, _PAYMENTS), refs, (sales, purchases), 1, end
    )

    with _connect(url) as conn, conn.cursor() as cur:
        for table in (*TABLES, MIGRATIONS):
            cur.execute(f"DROP TABLE IF EXISTS {_qualified(schema, table)} CASCADE")
        for statement in create_statements(schema):
            cur.execute(statement)
        for table in LOAD_ORDER:
            cur.adbc_ingest(table, tables[table], mode="append", db_schema_name=schema)
            if on_progress is not None:
                on_progress(table, tables[table].num_rows)
        cur.execute(
            f"INSERT INTO {_qualified(schema, MIGRATIONS)} VALUES {_migration_rows(seed, start)}"
        )
        for statement in foreign_key_statements(schema):
            cur.execute(statement)
        _sync_sequences(cur, schema)
        for table in (*TABLES, MIGRATIONS):
            cur.execute(f"ANALYZE {_qualified(schema, table)}")
        conn.commit()
    rows = {table: tables[table].num_rows for table in TABLES} | {MIGRATIONS: 2}
    newest = max(pc.max(t.column("last_updated")).as_py() for t in tables.values())
    return Generated(rows=rows, seconds=time.perf_counter() - started, newest=newest)


# ---------------------------------------------------------------------------------------------
# simulate


@dataclass
class Simulated:
    """What `simulate` changed. `rows`: rows inserted or updated per table (each row once, as
    an incremental extract after the call sees them); `inserted` / `updated` split them;
    `updated_twice`: sales orders updated twice in the call (the second time last);
    `first` / `last`: the earliest and latest `last_updated` given."""

    rows: dict[str, int]
    seconds: float
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    updated_twice: list[int] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None


@dataclass
class _State:
    """The source as it is before the changes."""

    newest_us: int
    max_ids: dict[str, int]
    sales_orders: Ints
    unpaid: Ints
    staff: Ints
    emails: set[str]
    departments: Ints
    designs: Ints
    refs: _Refs


def _ints(cur: Any, sql: str) -> Ints:
    cur.execute(sql)
    values = cur.fetch_arrow_table().column(0).to_numpy(zero_copy_only=False)
    return np.array(values, dtype=np.int64)


def _read_state(cur: Any, schema: str) -> _State:
    def q(table: str) -> str:
        return _qualified(schema, table)

    names = ", ".join(_literal(t) for t in TABLES)
    cur.execute(
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = {_literal(schema)} AND table_name IN ({names})"
    )
    if int(cur.fetchone()[0]) != len(TABLES):
        raise ConfigError(f"schema {schema!r} does not hold the totesys tables (generate first)")
    latest = " UNION ALL ".join(f"SELECT max(last_updated) AS m FROM {q(t)}" for t in TABLES)
    cur.execute(f"SELECT max(m) FROM ({latest}) AS x")
    newest = cur.fetchone()[0]
    maxima = ", ".join(
        f"(SELECT coalesce(max({_ident(primary_key(t))}), 0) FROM {q(t)})" for t in TABLES
    )
    cur.execute(f"SELECT {maxima}")
    max_ids = dict(zip(TABLES, (int(v) for v in cur.fetchone()), strict=True))
    cur.execute(
        f"SELECT s.staff_id, d.department_name, s.email_address FROM {q('staff')} s "
        f"JOIN {q('department')} d USING (department_id) ORDER BY 1"
    )
    staff_rows = cur.fetchall()
    staff = np.array([r[0] for r in staff_rows], dtype=np.int64)
    sales_staff, purchase_staff = _staff_pools(staff, [r[1] for r in staff_rows])
    cur.execute(
        f"SELECT c.counterparty_id, c.legal_address_id, coalesce(h.currency_id, "
        f"(SELECT min(currency_id) FROM {q('currency')})) FROM {q('counterparty')} c "
        f"JOIN {q('address')} a ON a.address_id = c.legal_address_id "
        f"LEFT JOIN {q('currency')} h ON h.currency_code = CASE a.country "
        + " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}" for k, v in HOME_CURRENCY.items())
        + " ELSE 'EUR' END ORDER BY 1"
    )
    parties = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 3)
    cur.execute(f"SELECT payment_type_name, payment_type_id FROM {q('payment_type')}")
    payment_types = {str(name): int(i) for name, i in cur.fetchall()}
    missing = set(PAYMENT_TYPES) - set(payment_types)
    if missing:
        raise ConfigError(f"payment_type lacks {sorted(missing)}")
    premises = _ints(
        cur, f"SELECT address_id FROM {q('address')} WHERE city IN ('Manchester', 'Leeds')"
    )
    addresses = _ints(cur, f"SELECT address_id FROM {q('address')} ORDER BY 1")
    if len(staff) == 0 or len(parties) == 0 or len(addresses) == 0:
        raise ConfigError(f"schema {schema!r} holds no staff, counterparties or addresses")
    refs = _Refs(
        sales_staff=sales_staff,
        purchase_staff=purchase_staff,
        counterparties=parties[:, 0],
        counterparty_weights=None,
        home_currency=parties[:, 2],
        legal_address=parties[:, 1],
        currencies=_ints(cur, f"SELECT currency_id FROM {q('currency')} ORDER BY 1"),
        addresses=addresses,
        premises=premises if len(premises) else addresses,
        payment_types=payment_types,
    )
    return _State(
        newest_us=_us(newest) if newest is not None else _us(START),
        max_ids=max_ids,
        sales_orders=_ints(cur, f"SELECT sales_order_id FROM {q('sales_order')} ORDER BY 1"),
        unpaid=_ints(cur, f"SELECT payment_id FROM {q('payment')} WHERE NOT paid ORDER BY 1"),
        staff=staff,
        emails={str(r[2]) for r in staff_rows},
        departments=_ints(cur, f"SELECT department_id FROM {q('department')} ORDER BY 1"),
        designs=_ints(cur, f"SELECT design_id FROM {q('design')} ORDER BY 1"),
        refs=refs,
    )


# Kinds of change, in the order their counts are planned.
_NEW_SALE, _NEW_PURCHASE, _ORDER_UPDATE, _SETTLE = 0, 1, 2, 3
_STAFF_EMAIL, _CONTACT, _PHONE, _DESIGN_NAME, _NEW_STAFF, _NEW_DESIGN = 4, 5, 6, 7, 8, 9
_DIMENSION_EDITS = (_STAFF_EMAIL, _CONTACT, _PHONE, _DESIGN_NAME)


def _plan(rng: np.random.Generator, changes: int, state: _State) -> tuple[list[int], int]:
    """How many changes of each kind (first updates of twice-updated orders included in
    _ORDER_UPDATE), and how many orders are updated twice; about `changes` row changes in all
    (a new order is three: the order, its transaction, its payment)."""
    counts = [0] * 10
    if changes <= 0:
        return counts, 0
    existing = len(state.sales_orders)
    twice = min(changes // 20, existing // 4)
    edits = changes // 15
    counts[_NEW_STAFF] = int(changes >= 20 and rng.random() < 0.25)
    counts[_NEW_DESIGN] = int(changes >= 20 and rng.random() < 0.5)
    counts[_SETTLE] = min(changes // 20, len(state.unpaid))
    once = changes // 4
    rest = changes - edits - counts[_NEW_STAFF] - counts[_NEW_DESIGN] - counts[_SETTLE]
    rest -= once + 2 * twice
    orders, once = max(rest, 0) // 3, once + max(rest, 0) % 3
    counts[_NEW_PURCHASE] = orders // 5
    counts[_NEW_SALE] = orders - counts[_NEW_PURCHASE]
    counts[_ORDER_UPDATE] = min(once + twice, existing)
    twice = min(twice, counts[_ORDER_UPDATE])
    for n in range(edits):
        counts[_DIMENSION_EDITS[n % len(_DIMENSION_EDITS)]] += 1
    return counts, twice


def _base(rng: np.random.Generator, now: datetime | None, newest_us: int) -> int:
    """The first change's moment: `now` (default: 1 to 60 minutes after the newest
    `last_updated`, continuing the data's own clock), never before 1 ms after the newest."""
    floor = int(_ms(newest_us)) + MS
    if now is None:
        return floor + int(_ms(rng.integers(MINUTE, HOUR)))
    return max(int(_ms(_us(now))), floor)


_PENDING = "totesys_pending_changes"


def _update_from(
    cur: Any, schema: str, table: str, changes: pa.Table, assignments: str, key: str = ""
) -> int:
    """UPDATE `table` from `changes` (COPYed into a temporary table, joined on the key; every
    row also sets last_updated); returns the number of rows updated."""
    key = key or primary_key(table)
    cur.adbc_ingest(_PENDING, changes, mode="create", temporary=True)
    cur.execute(
        f"WITH done AS (UPDATE {_qualified(schema, table)} AS t SET {assignments}, "
        f"last_updated = c.last_updated FROM {_PENDING} AS c WHERE t.{key} = c.{key} "
        f"RETURNING t.{key}) SELECT count(*) FROM done"
    )
    count = int(cur.fetchone()[0])
    cur.execute(f"DROP TABLE {_PENDING}")
    return count


_ORDER_CHANGES = """units_sold = coalesce(c.units_sold, t.units_sold),
    unit_price = coalesce(c.unit_price, t.unit_price),
    agreed_delivery_date = coalesce(
        to_char(t.agreed_delivery_date::date + c.delivery_shift, 'YYYY-MM-DD'),
        t.agreed_delivery_date),
    agreed_payment_date = coalesce(
        to_char(t.agreed_payment_date::date + c.payment_shift, 'YYYY-MM-DD'),
        t.agreed_payment_date)"""


def _order_changes(rng: np.random.Generator, ids: Ints, stamps: Ints) -> pa.Table:
    """Corrections: a new quantity, a new price, or later agreed dates (one per order)."""
    n = len(ids)
    kind = rng.integers(0, 3, n)
    dates = kind != 2
    return pa.table(
        {
            "sales_order_id": _int32(ids),
            "units_sold": _int32(rng.integers(1_000, 100_001, n), mask=kind != 0),
            "unit_price": pc.if_else(
                pa.array(kind == 1),
                _money(rng.integers(200, 401, n)),
                pa.scalar(None, pa.decimal128(10, 2)),
            ),
            "delivery_shift": _int32(rng.integers(1, 8, n), mask=dates),
            "payment_shift": _int32(rng.integers(0, 8, n), mask=dates),
            "last_updated": _timestamps(stamps),
        }
    )


def _edit_dimensions(
    cur: Any,
    rng: np.random.Generator,
    schema: str,
    state: _State,
    stamps: dict[int, Ints],
) -> dict[str, int]:
    """Staff emails, counterparty contacts, address phones and design names."""
    done: dict[str, int] = {}

    def sample(pool: Ints, n: int) -> Ints:
        return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))

    ids = sample(state.staff, len(stamps[_STAFF_EMAIL]))
    if len(ids):
        changes = pa.table(
            {
                "staff_id": _int32(ids),
                "suffix": pc.cast(pa.array(rng.integers(2, 100, len(ids))), pa.string()),
                "last_updated": _timestamps(stamps[_STAFF_EMAIL][: len(ids)]),
            }
        )
        sets = (
            "email_address = lower(t.first_name || '.' || t.last_name) || c.suffix "
            f"|| '@{EMAIL_DOMAIN}'"
        )
        done["staff"] = _update_from(cur, schema, "staff", changes, sets)
    ids = sample(state.refs.counterparties, len(stamps[_CONTACT]))
    if len(ids):
        n = len(ids)
        commercial = rng.random(n) < 0.5
        people = [_choice(rng, TITLES) + _person(rng) for _ in range(n)]
        changes = pa.table(
            {
                "counterparty_id": _int32(ids),
                "commercial_contact": pa.array(people, pa.string(), mask=~commercial),
                "delivery_contact": pa.array(people, pa.string(), mask=commercial),
                "last_updated": _timestamps(stamps[_CONTACT][:n]),
            }
        )
        sets = (
            "commercial_contact = coalesce(c.commercial_contact, t.commercial_contact), "
            "delivery_contact = coalesce(c.delivery_contact, t.delivery_contact)"
        )
        done["counterparty"] = _update_from(cur, schema, "counterparty", changes, sets)
    ids = sample(state.refs.addresses, len(stamps[_PHONE]))
    if len(ids):
        changes = pa.table(
            {
                "address_id": _int32(ids),
                "digits": pc.utf8_lpad(
                    pc.cast(pa.array(rng.integers(0, 10_000, len(ids))), pa.string()), 4, "0"
                ),
                "last_updated": _timestamps(stamps[_PHONE][: len(ids)]),
            }
        )
        sets = "phone = regexp_replace(t.phone, '[0-9]{4}$', c.digits)"
        done["address"] = _update_from(cur, schema, "address", changes, sets)
    ids = sample(state.designs, len(stamps[_DESIGN_NAME]))
    if len(ids):
        n = len(ids)
        first = rng.integers(0, len(MATERIALS), n)
        other = (first + rng.integers(1, len(MATERIALS), n)) % len(MATERIALS)
        changes = pa.table(
            {
                "design_id": _int32(ids),
                "name": pc.take(pa.array(MATERIALS), pa.array(first)),
                "other": pc.take(pa.array(MATERIALS), pa.array(other)),
                "last_updated": _timestamps(stamps[_DESIGN_NAME][:n]),
            }
        )
        sets = "design_name = CASE WHEN t.design_name = c.name THEN c.other ELSE c.name END"
        done["design"] = _update_from(cur, schema, "design", changes, sets)
    return done


def _new_staff(rng: np.random.Generator, state: _State, stamps: Ints) -> pa.Table:
    first, last, emails = [], [], []
    for _ in stamps:
        f, s = _choice(rng, FIRST_NAMES), _choice(rng, LAST_NAMES)
        email, n = _email(f, s), 1
        while email in state.emails:
            n += 1
            email = _email(f, s, str(n))
        state.emails.add(email)
        first.append(f)
        last.append(s)
        emails.append(email)
    ids = state.max_ids["staff"] + 1 + np.arange(len(stamps))
    columns = {
        "staff_id": _int32(ids),
        "first_name": pa.array(first, pa.string()),
        "last_name": pa.array(last, pa.string()),
        "department_id": _int32(_pick(rng, state.departments, len(stamps))),
        "email_address": pa.array(emails, pa.string()),
    }
    return _table("staff", _stamped(columns, stamps))


def _new_designs(rng: np.random.Generator, state: _State, stamps: Ints) -> pa.Table:
    table = _designs(rng, stamps)
    ids = state.max_ids["design"] + 1 + np.arange(len(stamps))
    return table.set_column(0, table.schema.field(0), _int32(ids))


def simulate(
    url: str | DatabaseUrl,
    *,
    changes: int = 100,
    seed: int | None = None,
    schema: str = "public",
    now: datetime | None = None,
) -> Simulated:
    """About `changes` row changes to the totesys source in `schema`, in one transaction.

    New sales orders and a few purchase orders (each with its transaction and payment, created
    and last updated at the same moment; they reference existing rows only), corrections to
    existing sales orders (quantity, price or agreed dates; 1 in 20 changes is a second
    update of an order already corrected in the call, with the newest `last_updated` of all),
    settled payments, and edits to staff emails, counterparty contacts, address phones and
    design names, now and then a new staff member or design.

    Each change gets its own `last_updated`, strictly increasing from `now` (default: a while
    after the newest `last_updated` in the source; a `now` before that is moved to 1 ms after
    it). `seed` fixes the choices (default: derived from the source's newest timestamp, so
    successive calls differ but the same database state gives the same changes)."""
    if changes < 0:
        raise ConfigError(f"changes must be at least 0, got {changes}")
    started = time.perf_counter()
    with _connect(url) as conn, conn.cursor() as cur:
        state = _read_state(cur, schema)
        rng = _rng(state.newest_us if seed is None else seed, _SIMULATE)
        counts, twice = _plan(rng, changes, state)
        base = _base(rng, now, state.newest_us)
        # One moment per change, in a random order of kinds; the second updates come last.
        first_pass = np.repeat(np.arange(len(counts)), counts)
        rng.shuffle(first_pass)
        total = len(first_pass) + twice
        gaps = rng.integers(1, 60_000, total).astype(np.int64) * MS  # 1 ms to 1 minute
        gaps[:1] = 0
        moments = base + np.cumsum(gaps)
        stamps = {kind: moments[: len(first_pass)][first_pass == kind] for kind in range(10)}
        second = moments[len(first_pass) :]

        inserted = dict.fromkeys(TABLES, 0)
        updated = dict.fromkeys(TABLES, 0)

        def insert(table: str, rows: pa.Table) -> None:
            if rows.num_rows:
                cur.adbc_ingest(table, rows, mode="append", db_schema_name=schema)
                inserted[table] += rows.num_rows

        insert("staff", _new_staff(rng, state, stamps[_NEW_STAFF]))
        insert("design", _new_designs(rng, state, stamps[_NEW_DESIGN]))
        refs = state.refs
        new_sales = stamps[_NEW_SALE]
        sales = _sales(
            rng,
            refs,
            state.max_ids["sales_order"] + 1 + np.arange(len(new_sales), dtype=np.int64),
            new_sales,
            new_sales,
            _pick(rng, state.designs, len(new_sales)),
        )
        new_purchases = stamps[_NEW_PURCHASE]
        purchases = _purchases(
            rng,
            refs,
            state.max_ids["purchase_order"] + 1 + np.arange(len(new_purchases), dtype=np.int64),
            new_purchases,
            new_purchases,
        )
        transactions, payments = _transactions_and_payments(
            rng, refs, (sales, purchases), state.max_ids["transaction"] + 1, None
        )
        payment_ids = state.max_ids["payment"] + 1 + np.arange(payments.num_rows)
        payments = payments.set_column(0, payments.schema.field(0), _int32(payment_ids))
        for table, rows in (
            ("sales_order", sales.table),
            ("purchase_order", purchases.table),
            ("transaction", transactions),
            ("payment", payments),
        ):
            insert(table, rows)

        chosen = rng.choice(state.sales_orders, size=counts[_ORDER_UPDATE], replace=False)
        if len(chosen):
            updated["sales_order"] = _update_from(
                cur,
                schema,
                "sales_order",
                _order_changes(rng, chosen, stamps[_ORDER_UPDATE]),
                _ORDER_CHANGES,
            )
        twice_ids = np.sort(chosen[:twice])
        if twice:
            _update_from(
                cur,
                schema,
                "sales_order",
                _order_changes(rng, twice_ids, second),
                _ORDER_CHANGES,
            )
        settle = np.sort(rng.choice(state.unpaid, size=counts[_SETTLE], replace=False))
        if len(settle):
            settled = pa.table(
                {"payment_id": _int32(settle), "last_updated": _timestamps(stamps[_SETTLE])}
            )
            updated["payment"] = _update_from(cur, schema, "payment", settled, "paid = TRUE")
        updated |= _edit_dimensions(cur, rng, schema, state, stamps)
        _sync_sequences(cur, schema, ("staff", "design", *LOAD_ORDER[-4:]))
        conn.commit()
    rows = {t: inserted[t] + updated[t] for t in TABLES}
    return Simulated(
        rows=rows,
        seconds=time.perf_counter() - started,
        inserted=inserted,
        updated=updated,
        updated_twice=[int(i) for i in twice_ids],
        first=_datetime(moments[0]) if total else None,
        last=_datetime(moments[-1]) if total else None,
    )
