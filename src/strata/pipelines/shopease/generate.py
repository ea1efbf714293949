"""The ShopEase source database: a deterministic, realistic OLTP sales database in PostgreSQL.

The seed project extracted a PostgreSQL dump (`sales_db.dump`) that was never committed, so
tests and benchmarks need a stand-in. `generate()` (re)creates its six tables and fills them
with numpy-drawn data streamed as Arrow chunks through ADBC's binary COPY, so the default
1,020,500 transactions load in seconds and 10M in bounded memory. The data carries the dirt
the seed's silver layer cleans up (duplicate customers, untrimmed or mixed-case names, NULL
emails, non-positive prices and quantities), and `apply_changes()` simulates the OLTP
activity an incremental extract must pick up: inserts, updates and back-dated entries.

Everything is drawn from `numpy.random.Generator`s seeded from `seed`, one stream per table
and per transaction chunk, so the same arguments give byte-identical table contents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from strata.db import DatabaseUrl, connect_postgres
from strata.errors import ConfigError

SOURCE_TABLES: tuple[str, ...] = (
    "customers",
    "products",
    "stores",
    "inventory",
    "sales_managers",
    "sale_transactions",
)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

CHUNK_ROWS = 250_000
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
EPOCH = datetime(1970, 1, 1)

# Random streams: one per table, so changing one table's rules leaves the others unchanged.
_CUSTOMERS, _PRODUCTS, _STORES, _MANAGERS = 1, 2, 3, 4
_INVENTORY, _TRANSACTIONS, _CALENDAR, _BUYERS = 5, 6, 7, 8
_CHANGES = 100

# ---------------------------------------------------------------------------------------------
# Schema: one source of truth for the DDL and the Arrow schema of every table.

_INT, _BIGINT, _TEXT = ("integer", pa.int32()), ("bigint", pa.int64()), ("text", pa.string())
_MONEY = ("numeric(10,2)", pa.decimal128(10, 2))
_TS = ("timestamp without time zone", pa.timestamp("us"))
_DATE = ("date", pa.date32())
_NULLABLE = {("customers", "email"), ("products", "product_name")}

COLUMNS: dict[str, tuple[tuple[str, tuple[str, pa.DataType]], ...]] = {
    "customers": (
        ("customer_id", _INT),
        ("customer_name", _TEXT),
        ("email", _TEXT),
        ("phone", _TEXT),
        ("address", _TEXT),
        ("city", _TEXT),
        ("state", _TEXT),
        ("zip_code", _TEXT),
        ("created_at", _TS),
        ("updated_at", _TS),
    ),
    "products": (
        ("product_id", _INT),
        ("product_name", _TEXT),
        ("category", _TEXT),
        ("price", _MONEY),
        ("description", _TEXT),
        ("created_at", _TS),
        ("updated_at", _TS),
    ),
    "stores": (
        ("store_id", _INT),
        ("store_name", _TEXT),
        ("city", _TEXT),
        ("state", _TEXT),
        ("opened_on", _DATE),
        ("created_at", _TS),
        ("updated_at", _TS),
    ),
    "inventory": (
        ("inventory_id", _INT),
        ("store_id", _INT),
        ("product_id", _INT),
        ("quantity_on_hand", _INT),
        ("reorder_level", _INT),
        ("last_restocked_at", _TS),
        ("created_at", _TS),
        ("updated_at", _TS),
    ),
    "sales_managers": (
        ("manager_id", _INT),
        ("manager_name", _TEXT),
        ("email", _TEXT),
        ("store_id", _INT),
        ("hire_date", _DATE),
        ("created_at", _TS),
        ("updated_at", _TS),
    ),
    "sale_transactions": (
        ("transaction_id", _BIGINT),
        ("store_id", _INT),
        ("customer_id", _INT),
        ("product_id", _INT),
        ("quantity", _INT),
        ("unit_price", _MONEY),
        ("payment_method", _TEXT),
        ("sales_channel", _TEXT),
        ("created_at", _TS),
        ("updated_at", _TS),
    ),
}

# Created after the load (faster than maintaining them row by row). customers has no primary
# key on purpose: the legacy dump holds exact duplicate rows.
_INDEXES: dict[str, tuple[str, ...]] = {
    "customers": (
        "CREATE INDEX customers_customer_id_idx ON {t} (customer_id)",
        "CREATE INDEX customers_updated_at_idx ON {t} (updated_at)",
    ),
    "products": ("ALTER TABLE {t} ADD PRIMARY KEY (product_id)",),
    "stores": ("ALTER TABLE {t} ADD PRIMARY KEY (store_id)",),
    "inventory": ("ALTER TABLE {t} ADD PRIMARY KEY (inventory_id)",),
    "sales_managers": ("ALTER TABLE {t} ADD PRIMARY KEY (manager_id)",),
    "sale_transactions": (
        "ALTER TABLE {t} ADD PRIMARY KEY (transaction_id)",
        "CREATE INDEX sale_transactions_updated_at_idx ON {t} (updated_at)",
    ),
}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema whose columns COPY into `table` exactly as its DDL declares them."""
    return pa.schema(
        [
            pa.field(name, kind[1], nullable=(table, name) in _NULLABLE)
            for name, kind in COLUMNS[table]
        ]
    )


def _ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str, table: str) -> str:
    return f"{_ident(schema)}.{_ident(table)}"


def create_statements(schema: str) -> list[str]:
    """DDL that drops and recreates the six tables, without indexes (those come after the load)."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}"]
    for table in SOURCE_TABLES:
        statements.append(f"DROP TABLE IF EXISTS {_qualified(schema, table)}")
        columns = ", ".join(
            f"{_ident(name)} {kind[0]}" + ("" if (table, name) in _NULLABLE else " NOT NULL")
            for name, kind in COLUMNS[table]
        )
        statements.append(f"CREATE TABLE {_qualified(schema, table)} ({columns})")
    return statements


def index_statements(schema: str) -> list[str]:
    """Primary keys, secondary indexes and ANALYZE, run once the rows are in."""
    statements = []
    for table in SOURCE_TABLES:
        target = _qualified(schema, table)
        statements += [sql.format(t=target) for sql in _INDEXES[table]]
        statements.append(f"ANALYZE {target}")
    return statements


# ---------------------------------------------------------------------------------------------
# Reference data.

# (city, state, ZIP prefix, area code, weight ~ population; store cities are boosted below)
CITIES: tuple[tuple[str, str, str, str, float], ...] = (
    ("New York", "NY", "100", "212", 8.3),
    ("Los Angeles", "CA", "900", "213", 3.9),
    ("Chicago", "IL", "606", "312", 2.7),
    ("Houston", "TX", "770", "713", 2.3),
    ("Phoenix", "AZ", "850", "602", 1.6),
    ("Philadelphia", "PA", "191", "215", 1.6),
    ("San Antonio", "TX", "782", "210", 1.5),
    ("San Diego", "CA", "921", "619", 1.4),
    ("Dallas", "TX", "752", "214", 1.3),
    ("San Jose", "CA", "951", "408", 1.0),
    ("Austin", "TX", "787", "512", 1.0),
    ("Jacksonville", "FL", "322", "904", 0.95),
    ("Fort Worth", "TX", "761", "817", 0.93),
    ("Columbus", "OH", "432", "614", 0.9),
    ("Charlotte", "NC", "282", "704", 0.88),
    ("Indianapolis", "IN", "462", "317", 0.88),
    ("San Francisco", "CA", "941", "415", 0.87),
    ("Seattle", "WA", "981", "206", 0.75),
    ("Denver", "CO", "802", "303", 0.71),
    ("Washington", "DC", "200", "202", 0.69),
    ("Nashville", "TN", "372", "615", 0.69),
    ("Boston", "MA", "021", "617", 0.68),
    ("El Paso", "TX", "799", "915", 0.68),
    ("Oklahoma City", "OK", "731", "405", 0.68),
    ("Portland", "OR", "972", "503", 0.65),
    ("Las Vegas", "NV", "891", "702", 0.64),
    ("Detroit", "MI", "482", "313", 0.63),
    ("Memphis", "TN", "381", "901", 0.63),
    ("Louisville", "KY", "402", "502", 0.62),
    ("Baltimore", "MD", "212", "410", 0.58),
    ("Milwaukee", "WI", "532", "414", 0.57),
    ("Albuquerque", "NM", "871", "505", 0.56),
    ("Tucson", "AZ", "857", "520", 0.54),
    ("Fresno", "CA", "937", "559", 0.54),
    ("Sacramento", "CA", "958", "916", 0.52),
    ("Atlanta", "GA", "303", "404", 0.5),
    ("Kansas City", "MO", "641", "816", 0.5),
    ("Raleigh", "NC", "276", "919", 0.47),
    ("Miami", "FL", "331", "305", 0.44),
    ("Minneapolis", "MN", "554", "612", 0.43),
    ("Newark", "NJ", "071", "973", 0.31),
    ("Hartford", "CT", "061", "860", 0.12),
)

# (store name, city index in CITIES, opened this many days before the window starts)
STORES: tuple[tuple[str, int, int], ...] = (
    ("ShopEase Chicago Loop", 2, 3_900),
    ("ShopEase Midtown Manhattan", 0, 3_400),
    ("ShopEase Houston Galleria", 3, 2_600),
    ("ShopEase Phoenix Desert Ridge", 4, 2_100),
    ("ShopEase Seattle Waterfront", 17, 1_300),
)
STORE_SHARES = (0.28, 0.25, 0.20, 0.15, 0.12)

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Christopher", "Karen", "Charles", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony",
    "Sandra", "Mark", "Margaret", "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily",
    "Paul", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Sharon",
    "Edward", "Laura", "Jeffrey", "Cynthia", "Ryan", "Amy", "Jacob", "Angela", "Gary", "Shirley",
    "Nicholas", "Anna", "Eric", "Brenda", "Jonathan", "Pamela", "Luis", "Maria", "Carlos", "Sofia",
    "Wei", "Mei", "Ahmed", "Fatima", "Raj", "Priya", "Hiroshi", "Yuki",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
    "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed",
    "Kelly", "Howard", "Kim", "Patel", "Chen", "Wang", "Singh", "O'Brien",
)  # fmt: skip
STREETS = (
    "Main", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset",
    "Lincoln", "Jackson", "Church", "River", "Highland", "Forest", "Walnut", "Center", "Madison",
    "Spring", "Ridge", "Meadow", "Franklin", "Jefferson", "Willow", "Chestnut", "Broad", "Market",
    "Union",
)  # fmt: skip
STREET_SUFFIXES = ("St", "Ave", "Blvd", "Rd", "Dr", "Ln", "Ct", "Way", "Pl")
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com")
EMAIL_SHARES = (0.46, 0.17, 0.12, 0.1, 0.1, 0.05)

# category: (share of products, median price in dollars, product nouns)
CATEGORIES: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "Electronics": (0.15, 160.0, ("Headphones", "Speaker", "Tablet", "Monitor", "Charger")),
    "Clothing": (0.17, 35.0, ("T-Shirt", "Jacket", "Jeans", "Sneakers", "Hoodie", "Dress")),
    "Home & Kitchen": (0.14, 55.0, ("Blender", "Cookware Set", "Lamp", "Towel Set", "Kettle")),
    "Sports & Outdoors": (0.1, 60.0, ("Yoga Mat", "Tent", "Water Bottle", "Backpack", "Bike")),
    "Beauty": (0.09, 22.0, ("Moisturizer", "Shampoo", "Lipstick", "Perfume", "Serum")),
    "Toys & Games": (0.08, 28.0, ("Puzzle", "Board Game", "Action Figure", "Building Set")),
    "Books": (0.08, 16.0, ("Cookbook", "Novel", "Travel Guide", "Biography", "Atlas")),
    "Grocery": (0.07, 9.0, ("Coffee Beans", "Olive Oil", "Green Tea", "Granola", "Honey")),
    "Automotive": (0.06, 70.0, ("Dash Cam", "Car Vacuum", "Seat Cover", "Tire Inflator")),
    "Health": (0.06, 20.0, ("Vitamins", "Thermometer", "First Aid Kit", "Massager")),
}
BRANDS = (
    "Acme", "Northwind", "Contoso", "Fabrikam", "Vexa", "Lumen", "Orbit", "Zenith", "Apex",
    "Nimbus", "Summit", "Harbor", "Pioneer", "Evergreen", "Cobalt",
)  # fmt: skip
TAGLINES = ("Customer favourite.", "New this season.", "Best value.", "Limited stock.")
ADJECTIVES = (
    "Classic", "Premium", "Essential", "Ultra", "Compact", "Deluxe", "Smart", "Eco", "Pro", "Lite",
    "Everyday", "Signature",
)  # fmt: skip

PAYMENT_METHODS = ("credit_card", "debit_card", "paypal", "cash", "gift_card")
SALES_CHANNELS = ("in_store", "online", "mobile_app")
CHANNEL_SHARES = (0.55, 0.30, 0.15)
# Payment shares per channel (rows follow SALES_CHANNELS, columns PAYMENT_METHODS).
PAYMENT_SHARES = (
    (0.38, 0.30, 0.00, 0.24, 0.08),
    (0.52, 0.20, 0.22, 0.00, 0.06),
    (0.42, 0.18, 0.34, 0.00, 0.06),
)
# Items per line: mostly 1-5, a thin tail up to 10.
QUANTITY_SHARES = (0.52, 0.22, 0.11, 0.06, 0.04, 0.015, 0.012, 0.01, 0.008, 0.005)
# Relative traffic Monday..Sunday, per month, and per hour of the day.
WEEKDAY_FACTORS = (0.86, 0.82, 0.88, 0.95, 1.12, 1.30, 1.07)
MONTH_FACTORS = (0.78, 0.80, 0.92, 0.95, 1.0, 0.97, 0.98, 1.02, 0.96, 1.0, 1.25, 1.45)
HOUR_FACTORS = (
    0.4, 0.25, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.8, 2.8, 3.8, 4.5,
    5.2, 5.0, 4.6, 4.5, 4.8, 5.4, 6.0, 5.8, 4.9, 3.6, 2.2, 1.1,
)  # fmt: skip

# Dirty-data rates.
DUPLICATE_CUSTOMER_RATE = 0.01
MESSY_NAME_RATE = 0.03
NULL_EMAIL_RATE = 0.01
MESSY_EMAIL_RATE = 0.02
MESSY_CATEGORY_RATE = 0.06
BAD_QUANTITY_RATE = 0.003
BAD_PRICE_RATE = 0.002
LATE_UPDATE_RATE = 0.05


# ---------------------------------------------------------------------------------------------
# Small helpers.


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator for one table or chunk: same seed and stream, same numbers.

    (SeedSequence ignores trailing zeros, so no stream may end in 0: chunks count from 1.)"""
    return np.random.default_rng([seed, *stream])


def _us(moment: date | datetime) -> int:
    """Microseconds since 1970-01-01 for a date (at midnight) or a naive datetime."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return (moment - EPOCH) // timedelta(microseconds=1)


def _cdf(weights: Any) -> Floats:
    """Cumulative shares of `weights` (last element exactly 1) for `searchsorted` sampling."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def _draw(rng: np.random.Generator, cdf: Floats, n: int) -> Ints:
    """`n` indexes drawn with the shares `cdf` describes."""
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


def _pick(values: tuple[str, ...] | list[str], index: Ints) -> pa.Array:
    """The strings `values[index]` as an Arrow array (vectorised, no Python loop)."""
    return pc.take(pa.array(values, pa.string()), pa.array(index))


def _decimal(cents: Ints) -> pa.Array:
    """Integer cents as Arrow decimal128(10, 2), built directly from two's-complement words."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(10, 2), len(cents), [None, pa.py_buffer(words)])


def _timestamps(us: Ints) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64)).cast(pa.timestamp("us"))


def _dates(days: Ints) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int64).astype("datetime64[D]"))


def _int32(values: Ints) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int32))


def _text(values: Ints) -> pa.Array:
    """Integers as decimal strings."""
    return pc.cast(pa.array(values), pa.string())


def _padded(values: Ints, width: int) -> pa.Array:
    """Integers as zero-padded strings (`7` → `"007"`)."""
    return pc.utf8_lpad(_text(values), width=width, padding="0")


def _join(*parts: Any) -> pa.Array:
    """Element-wise concatenation of string arrays and scalars."""
    return pc.binary_join_element_wise(*parts, "")


def _later(rng: np.random.Generator, start: Ints, limit: int, share: float) -> Ints:
    """For a `share` of rows a moment uniformly after `start` (up to `limit`), else `start`."""
    moved = rng.random(len(start)) < share
    later = rng.integers(start, np.maximum(start + 1, limit))
    return np.where(moved, later, start)


def _table(name: str, columns: dict[str, Any]) -> pa.Table:
    """An Arrow table with `name`'s exact schema (columns in DDL order)."""
    schema = arrow_schema(name)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


# ---------------------------------------------------------------------------------------------
# Calendar: how many transactions each day gets, and when within the day.


@dataclass(frozen=True)
class _Calendar:
    """Per-day transaction counts over the window; day `d` starts at `day_start_us[d]`."""

    day_start_us: Ints
    counts: Ints
    ends: Ints  # cumulative counts: day d holds transaction positions [ends[d]-counts[d], ends[d])
    window_start_us: int
    window_end_us: int  # the last microsecond of the window


def _day_weights(rng: np.random.Generator, start: date, days: int) -> Floats:
    """Relative traffic per day: weekday pattern, season, Black Friday week, growth, noise."""
    dates = np.datetime64(start, "D") + np.arange(days)
    months = dates.astype("datetime64[M]")
    month = months.astype(np.int64) % 12
    day_of_month = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weights = np.asarray(WEEKDAY_FACTORS)[weekday] * np.asarray(MONTH_FACTORS)[month]
    # Black Friday follows the fourth Thursday of November, so it falls on the 23rd-29th.
    black_friday = np.flatnonzero((month == 10) & (weekday == 4) & (day_of_month >= 23))
    black_friday = black_friday[day_of_month[black_friday] <= 29]
    for first, boost in zip(range(4), (2.6, 1.9, 1.5, 2.1), strict=True):  # Fri..Mon (Cyber)
        at = black_friday + first
        weights[at[at < days]] *= boost
    weights[(month == 11) & (day_of_month >= 10) & (day_of_month <= 23)] *= 1.3
    weights[(month == 11) & (day_of_month == 25)] *= 0.35
    weights *= 1.0 + 0.15 * np.arange(days) / 365.0
    return np.asarray(weights * rng.lognormal(0.0, 0.07, days), dtype=np.float64)


def _split(total: int, weights: Floats) -> Ints:
    """`total` split in proportion to `weights` (largest remainder, so the sum is exact)."""
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


def _calendar(seed: int, transactions: int, end: date, days: int) -> _Calendar:
    start = end - timedelta(days=days - 1)
    weights = _day_weights(_rng(seed, _CALENDAR), start, days)
    counts = _split(transactions, weights)
    day_start = _us(start) + np.arange(days, dtype=np.int64) * US_PER_DAY
    return _Calendar(
        day_start_us=day_start,
        counts=counts,
        ends=np.cumsum(counts),
        window_start_us=_us(start),
        window_end_us=_us(end) + US_PER_DAY - 1,
    )


_HOUR_CDF = np.concatenate([[0.0], _cdf(HOUR_FACTORS)])
_HOUR_EDGES_US = np.arange(25, dtype=np.float64) * 3_600 * US_PER_SECOND


def _time_of_day_us(quantile: Floats) -> Ints:
    """Microseconds into the day at which the day's traffic reaches `quantile` (monotone)."""
    return np.interp(quantile, _HOUR_CDF, _HOUR_EDGES_US).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Customers.


def _city_cdf() -> Floats:
    weights = np.array([city[4] for city in CITIES])
    for _, city, _ in STORES:
        weights[city] *= 3.0  # shoppers live near the stores
    return _cdf(weights)


def _messy_names(rng: np.random.Generator, names: pa.Array, rate: float) -> pa.Array:
    """A `rate` of names get stray spaces and/or lower, upper or swapped case."""
    n = len(names)
    kind = np.where(rng.random(n) < rate, rng.integers(1, 6, n), 0)
    variants = [
        names,
        _join("  ", names),
        _join(names, " "),
        pc.utf8_lower(names),
        pc.utf8_upper(names),
        _join(" ", pc.utf8_swapcase(names), "  "),
    ]
    return pc.choose(pa.array(kind), *variants)


def _emails(rng: np.random.Generator, first: pa.Array, last: pa.Array) -> pa.Array:
    """first.last42@domain, with ~1% NULL and ~2% in upper case or wrapped in spaces."""
    n = len(first)
    number = np.where(rng.random(n) < 0.5, rng.integers(1, 1000, n), 0)
    suffix = pc.if_else(pa.array(number == 0), "", _text(number))
    separator = _pick((".", "_", ""), _draw(rng, _cdf((0.6, 0.2, 0.2)), n))
    domain = _pick(EMAIL_DOMAINS, _draw(rng, _cdf(EMAIL_SHARES), n))
    local = pc.utf8_lower(_join(first, separator, last, suffix))
    email = _join(pc.replace_substring(local, "'", ""), "@", domain)
    messy = rng.integers(0, 3, n)
    messy = np.where(rng.random(n) < MESSY_EMAIL_RATE, messy + 1, 0)
    email = pc.choose(
        pa.array(messy), email, pc.utf8_upper(email), pc.utf8_capitalize(email), _join(" ", email)
    )
    null = pa.array(rng.random(n) < NULL_EMAIL_RATE)
    return pc.if_else(null, pa.scalar(None, pa.string()), email)


def _phones(rng: np.random.Generator, area: pa.Array) -> pa.Array:
    """US numbers, mostly "(212) 555-0147", some "212-555-0147", "212.555.0147", "+1 …"."""
    n = len(area)
    exchange = _text(rng.integers(200, 1000, n))
    line = _padded(rng.integers(0, 10_000, n), 4)
    style = _draw(rng, _cdf((0.8, 0.12, 0.05, 0.03)), n)
    return pc.choose(
        pa.array(style),
        _join("(", area, ") ", exchange, "-", line),
        _join(area, "-", exchange, "-", line),
        _join(area, ".", exchange, ".", line),
        _join("+1 ", area, " ", exchange, " ", line),
    )


def _addresses(rng: np.random.Generator, n: int) -> pa.Array:
    """ "1234 Maple Ave", some with an apartment number."""
    house = _text(rng.integers(1, 10_000, n))
    street = _pick(STREETS, rng.integers(0, len(STREETS), n))
    suffix = _pick(STREET_SUFFIXES, rng.integers(0, len(STREET_SUFFIXES), n))
    address = _join(house, " ", street, " ", suffix)
    apartment = _join(address, " Apt ", _text(rng.integers(1, 40, n)))
    return pc.if_else(pa.array(rng.random(n) < 0.15), apartment, address)


def _places(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """City, state, ZIP (text, keeps leading zeros) and the area code of each row's city."""
    city = _draw(rng, _city_cdf(), n)
    zip_tail = _padded(rng.integers(0, 100, n), 2)
    return {
        "city": _pick([c[0] for c in CITIES], city),
        "state": _pick([c[1] for c in CITIES], city),
        "zip_code": _join(_pick([c[2] for c in CITIES], city), zip_tail),
        "area": _pick([c[3] for c in CITIES], city),
    }


def _customer_rows(
    rng: np.random.Generator, ids: Ints, created_us: Ints, updated_us: Ints
) -> pa.Table:
    """Customers `ids` with names, contacts and addresses (dirty at the documented rates)."""
    n = len(ids)
    first = _pick(FIRST_NAMES, rng.integers(0, len(FIRST_NAMES), n))
    last = _pick(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n))
    places = _places(rng, n)
    return _table(
        "customers",
        {
            "customer_id": _int32(ids),
            "customer_name": _messy_names(rng, _join(first, " ", last), MESSY_NAME_RATE),
            "email": _emails(rng, first, last),
            "phone": _phones(rng, places["area"]),
            "address": _addresses(rng, n),
            **places,
            "created_at": _timestamps(created_us),
            "updated_at": _timestamps(updated_us),
        },
    )


def _customer_created(rng: np.random.Generator, n: int, cal: _Calendar) -> Ints:
    """Sign-up times, ascending (ids follow them): 60% before the window, the rest during it."""
    legacy = max(1, round(n * 0.6))
    before = rng.integers(cal.window_start_us - 3 * 365 * US_PER_DAY, cal.window_start_us, legacy)
    during = rng.integers(cal.window_start_us, cal.window_end_us - US_PER_DAY, n - legacy)
    return np.sort(np.concatenate([before, during]))


def _customers(seed: int, count: int, cal: _Calendar) -> tuple[pa.Table, Ints]:
    """The customers table (with ~1% exact duplicate rows appended) and the sign-up times."""
    rng = _rng(seed, _CUSTOMERS)
    duplicates = round(count * DUPLICATE_CUSTOMER_RATE) if count > 1 else 0
    distinct = count - duplicates
    created = _customer_created(rng, distinct, cal)
    updated = _later(rng, created, cal.window_end_us, 0.25)
    rows = _customer_rows(rng, np.arange(1, distinct + 1), created, updated)
    copies = np.sort(rng.choice(distinct, size=duplicates, replace=False))
    return pa.concat_tables([rows, rows.take(pa.array(copies))]), created


# ---------------------------------------------------------------------------------------------
# Products, stores, managers, inventory.


@dataclass(frozen=True)
class _Catalog:
    """What the transactions need to know about products (aligned with product ids 1..n)."""

    list_cents: Ints  # the real price, even where the table shows a bad one
    popularity: Floats  # Zipf-like weight of each product


def _list_prices(rng: np.random.Generator, medians: Floats) -> Ints:
    """Log-normal prices in cents around each category median, clipped to $4.99-$1,999.99,
    mostly ending in .99."""
    dollars = np.clip(medians * rng.lognormal(0.0, 0.7, len(medians)), 4.99, 1_999.99)
    charm = np.floor(dollars) * 100 + 99
    return np.where(rng.random(len(medians)) < 0.7, charm, np.round(dollars * 100)).astype(np.int64)


def _messy_categories(rng: np.random.Generator, category: pa.Array) -> pa.Array:
    """~6% of categories spelled in lower/upper case or with stray spaces."""
    n = len(category)
    kind = np.where(rng.random(n) < MESSY_CATEGORY_RATE, rng.integers(1, 5, n), 0)
    return pc.choose(
        pa.array(kind),
        category,
        pc.utf8_lower(category),
        pc.utf8_upper(category),
        _join(category, "  "),
        _join(" ", pc.utf8_lower(category)),
    )


def _product_texts(rng: np.random.Generator, category: Ints) -> tuple[pa.Array, pa.Array]:
    """Names ("Acme Premium Kettle"; ~2% with a trailing space, one or two NULL) and
    descriptions (~3% wrapped in whitespace)."""
    count = len(category)
    names = list(CATEGORIES)
    nouns = [noun for c in names for noun in CATEGORIES[c][2]]
    offsets = np.cumsum([0] + [len(CATEGORIES[c][2]) for c in names])
    noun = _pick(
        nouns, offsets[category] + rng.integers(0, 1 << 30, count) % np.diff(offsets)[category]
    )
    brand = _pick(BRANDS, rng.integers(0, len(BRANDS), count))
    adjective = _pick(ADJECTIVES, rng.integers(0, len(ADJECTIVES), count))
    name = _join(brand, " ", adjective, " ", noun)
    name = pc.if_else(pa.array(rng.random(count) < 0.02), _join(name, " "), name)
    is_null = np.zeros(count, dtype=bool)
    is_null[rng.choice(count, size=min(count, 2 if count >= 100 else 1), replace=False)] = True
    name = pc.if_else(pa.array(is_null), pa.scalar(None, pa.string()), name)
    blurb = _pick(TAGLINES, rng.integers(0, len(TAGLINES), count))
    description = _join(adjective, " ", pc.utf8_lower(noun), " by ", brand, ". ", blurb)
    messy = pa.array(rng.random(count) < 0.03)
    return name, pc.if_else(messy, _join(" ", description, "\t"), description)


def _products(seed: int, count: int, cal: _Calendar) -> tuple[pa.Table, _Catalog]:
    """The products table and the catalogue the transactions sample from."""
    rng = _rng(seed, _PRODUCTS)
    names = list(CATEGORIES)
    category = _draw(rng, _cdf([CATEGORIES[c][0] for c in names]), count)
    list_cents = _list_prices(rng, np.array([CATEGORIES[c][1] for c in names])[category])
    price = list_cents.copy()
    bad = rng.choice(count, size=max(1, count // 120), replace=False)
    price[bad] = np.where(rng.random(len(bad)) < 0.4, 0, -list_cents[bad])
    product_name, description = _product_texts(rng, category)
    first = cal.window_start_us - 2 * 365 * US_PER_DAY
    created = np.sort(rng.integers(first, cal.window_start_us - US_PER_DAY, count))
    table = _table(
        "products",
        {
            "product_id": _int32(np.arange(1, count + 1)),
            "product_name": product_name,
            "category": _messy_categories(rng, _pick(names, category)),
            "price": _decimal(price),
            "description": description,
            "created_at": _timestamps(created),
            "updated_at": _timestamps(_later(rng, created, cal.window_end_us, 0.4)),
        },
    )
    rank = rng.permutation(count) + 1
    return table, _Catalog(list_cents=list_cents, popularity=np.power(rank, -0.8, dtype=np.float64))


def _stores(seed: int, cal: _Calendar) -> pa.Table:
    """The five stores, opened years before the window in the cities of STORES."""
    rng = _rng(seed, _STORES)
    n = len(STORES)
    opened = cal.window_start_us // US_PER_DAY - np.array([s[2] for s in STORES])
    # The record is entered a month before opening, during office hours.
    created = (opened - 30) * US_PER_DAY + rng.integers(8 * 3_600, 18 * 3_600, n) * US_PER_SECOND
    created += rng.integers(0, US_PER_SECOND, n)
    city = np.array([s[1] for s in STORES])
    return _table(
        "stores",
        {
            "store_id": _int32(np.arange(1, n + 1)),
            "store_name": pa.array([s[0] for s in STORES], pa.string()),
            "city": _pick([c[0] for c in CITIES], city),
            "state": _pick([c[1] for c in CITIES], city),
            "opened_on": _dates(opened),
            "created_at": _timestamps(created),
            "updated_at": _timestamps(_later(rng, created, cal.window_end_us, 0.6)),
        },
    )


def _sales_managers(seed: int, cal: _Calendar, opened_days: Ints) -> pa.Table:
    """One manager per store, hired between the opening and the window start."""
    rng = _rng(seed, _MANAGERS)
    n = len(opened_days)
    first = _pick(FIRST_NAMES, rng.integers(0, len(FIRST_NAMES), n))
    last = _pick(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n))
    local = pc.replace_substring(pc.utf8_lower(_join(first, ".", last)), "'", "")
    hired = opened_days + rng.integers(0, cal.window_start_us // US_PER_DAY - opened_days)
    created = hired * US_PER_DAY + rng.integers(9 * 3_600, 17 * 3_600, n) * US_PER_SECOND
    created += rng.integers(0, US_PER_SECOND, n)
    return _table(
        "sales_managers",
        {
            "manager_id": _int32(np.arange(1, n + 1)),
            "manager_name": _join(first, " ", last),
            "email": _join(local, "@shopease.com"),
            "store_id": _int32(np.arange(1, n + 1)),
            "hire_date": _dates(hired),
            "created_at": _timestamps(created),
            "updated_at": _timestamps(_later(rng, created, cal.window_end_us, 0.5)),
        },
    )


def _column_us(table: pa.Table, column: str) -> Ints:
    """A timestamp column as int64 microseconds."""
    return np.asarray(table[column].cast(pa.int64()).to_numpy(), dtype=np.int64)


def _inventory(
    seed: int, cal: _Calendar, catalog: _Catalog, store_created: Ints, product_created: Ints
) -> pa.Table:
    """Stock of every product in every store: popular products are stocked deeper, ~4% are
    out of stock, each restocked within the last 45 days of the window."""
    rng = _rng(seed, _INVENTORY)
    stores, products = len(store_created), len(product_created)
    n = stores * products
    store = np.repeat(np.arange(stores), products)
    product = np.tile(np.arange(products), stores)
    demand = (
        (catalog.popularity / catalog.popularity.max())[product]
        * np.asarray(STORE_SHARES)[store]
        / max(STORE_SHARES)
    )
    on_hand = np.where(rng.random(n) < 0.04, 0, rng.poisson(6 + 140 * np.sqrt(demand)))
    created = np.maximum(store_created[store], product_created[product])
    restocked = np.maximum(cal.window_end_us - rng.integers(0, 45 * US_PER_DAY, n), created + 1)
    updated = np.minimum(restocked + rng.integers(0, 3_600 * US_PER_SECOND, n), cal.window_end_us)
    return _table(
        "inventory",
        {
            "inventory_id": _int32(np.arange(1, n + 1)),
            "store_id": _int32(store + 1),
            "product_id": _int32(product + 1),
            "quantity_on_hand": _int32(on_hand),
            "reorder_level": _int32(rng.integers(1, 11, n) * 5),
            "last_restocked_at": _timestamps(restocked),
            "created_at": _timestamps(created),
            "updated_at": _timestamps(np.maximum(updated, created)),
        },
    )


# ---------------------------------------------------------------------------------------------
# Sale transactions.


@dataclass(frozen=True)
class _Population:
    """Who buys what where: ids with the cumulative weights transactions are drawn by."""

    store_ids: Ints
    store_cdf: Floats
    customer_ids: Ints  # in sign-up order
    customer_cw: Floats  # cumulative purchase propensity (power law)
    product_ids: Ints
    product_cdf: Floats  # Zipf-like popularity
    list_cents: Ints  # each product's real price


def _population(
    rng: np.random.Generator,
    customer_ids: Ints,
    catalog: _Catalog,
    store_ids: Ints,
    product_ids: Ints | None = None,
) -> _Population:
    """Power-law repeat customers (Pareto alpha=2 propensities) over the given ids; products
    are numbered 1..n unless `product_ids` says otherwise."""
    propensity = rng.pareto(2.0, len(customer_ids)) + 1.0
    return _Population(
        store_ids=store_ids,
        store_cdf=_cdf(np.resize(STORE_SHARES, len(store_ids))),
        customer_ids=customer_ids,
        customer_cw=np.cumsum(propensity),
        product_ids=np.arange(1, len(catalog.list_cents) + 1)
        if product_ids is None
        else product_ids,
        product_cdf=_cdf(catalog.popularity),
        list_cents=catalog.list_cents,
    )


def _unit_prices(rng: np.random.Generator, list_cents: Ints) -> Ints:
    """The list price ±5% noise, 12% of lines discounted 10-25%; at least one cent."""
    n = len(list_cents)
    factor = 1.0 + np.clip(rng.normal(0.0, 0.02, n), -0.05, 0.05)
    discount = np.where(rng.random(n) < 0.12, rng.choice([0.1, 0.15, 0.2, 0.25], n), 0.0)
    return np.maximum(np.rint(list_cents * factor * (1.0 - discount)), 1).astype(np.int64)


def _spoil(rng: np.random.Generator, quantity: Ints, cents: Ints) -> tuple[Ints, Ints]:
    """~0.3% of lines get a quantity ≤ 0, another ~0.2% a unit price ≤ 0 (legacy entry bugs)."""
    n = len(quantity)
    roll = rng.random(n)
    bad_quantity = roll < BAD_QUANTITY_RATE
    bad_price = (roll >= BAD_QUANTITY_RATE) & (roll < BAD_QUANTITY_RATE + BAD_PRICE_RATE)
    quantity = np.where(bad_quantity, rng.choice([0, -1, -1, -2, -3], n), quantity)
    cents = np.where(bad_price, np.where(rng.random(n) < 0.5, 0, -cents), cents)
    return quantity, cents


def _payments(rng: np.random.Generator, channel: Ints) -> Ints:
    """A payment method per line, with shares that depend on the channel (no cash online)."""
    cdf = np.cumsum(np.asarray(PAYMENT_SHARES), axis=1)
    cdf /= cdf[:, -1:]
    picked = (rng.random(len(channel))[:, None] >= cdf[channel]).sum(axis=1)
    return np.minimum(picked, len(PAYMENT_METHODS) - 1).astype(np.int64)


def _sale_rows(
    rng: np.random.Generator,
    pop: _Population,
    ids: Ints,
    created_us: Ints,
    updated_us: Ints,
    eligible: Ints,
) -> pa.Table:
    """Transaction lines; each buyer is drawn among the first `eligible` customers (those
    signed up before the sale)."""
    n = len(ids)
    store = pop.store_ids[_draw(rng, pop.store_cdf, n)]
    target = rng.random(n) * pop.customer_cw[eligible - 1]
    buyer = np.minimum(np.searchsorted(pop.customer_cw, target, side="right"), eligible - 1)
    product = _draw(rng, pop.product_cdf, n)
    quantity = _draw(rng, _cdf(QUANTITY_SHARES), n) + 1
    quantity, cents = _spoil(rng, quantity, _unit_prices(rng, pop.list_cents[product]))
    channel = _draw(rng, _cdf(CHANNEL_SHARES), n)
    return _table(
        "sale_transactions",
        {
            "transaction_id": pa.array(np.asarray(ids, dtype=np.int64)),
            "store_id": _int32(store),
            "customer_id": _int32(pop.customer_ids[buyer]),
            "product_id": _int32(pop.product_ids[product]),
            "quantity": _int32(quantity),
            "unit_price": _decimal(cents),
            "payment_method": _pick(PAYMENT_METHODS, _payments(rng, channel)),
            "sales_channel": _pick(SALES_CHANNELS, channel),
            "created_at": _timestamps(created_us),
            "updated_at": _timestamps(updated_us),
        },
    )


def _late_updates(rng: np.random.Generator, created_us: Ints, limit_us: int) -> Ints:
    """updated_at: created_at, or for ~5% a minute to a few days later (returns, corrections)."""
    n = len(created_us)
    delay = US_PER_SECOND * (60 + rng.exponential(36 * 3_600, n)).astype(np.int64)
    later = np.minimum(created_us + delay, limit_us)
    return np.where(rng.random(n) < LATE_UPDATE_RATE, later, created_us)


def _transaction_chunk(
    seed: int, index: int, cal: _Calendar, pop: _Population, eligible_by_day: Ints
) -> pa.Table:
    """Transactions at positions [index*CHUNK_ROWS, …): ids ascend with created_at because a
    row's time of day is the day's traffic quantile at (rank in day + jitter) / day count."""
    rng = _rng(seed, _TRANSACTIONS, index + 1)
    lo = index * CHUNK_ROWS
    position = np.arange(lo, min(lo + CHUNK_ROWS, int(cal.ends[-1])), dtype=np.int64)
    day = np.searchsorted(cal.ends, position, side="right")
    rank = position - (cal.ends[day] - cal.counts[day])
    quantile = (rank + rng.random(len(position))) / cal.counts[day]
    created = cal.day_start_us[day] + _time_of_day_us(quantile)
    updated = _late_updates(rng, created, cal.window_end_us)
    return _sale_rows(rng, pop, position + 1, created, updated, eligible_by_day[day])


def _prefetched(make: Callable[[int], pa.Table], count: int) -> Iterator[pa.Table]:
    """`make(0)`, …, `make(count-1)`, each computed in a worker while the previous one loads."""
    if count == 0:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopease-gen") as pool:
        pending: Future[pa.Table] = pool.submit(make, 0)
        for index in range(1, count + 1):
            ready = pending.result()
            if index < count:
                pending = pool.submit(make, index)
            yield ready


# ---------------------------------------------------------------------------------------------
# Database IO.


def _connect(url: str) -> Any:
    """An ADBC PostgreSQL connection (autocommit off); failures raise DatabaseUnavailable with
    the URL and the reason redacted."""
    parsed = DatabaseUrl.parse(url)
    if parsed.kind != "postgresql":
        raise ConfigError(f"the ShopEase source database must be PostgreSQL, not {parsed}")
    return connect_postgres(parsed)


def _ingest(
    cur: Any,
    schema: str,
    table: str,
    batches: Iterator[pa.Table] | list[pa.Table],
    on_progress: Callable[[str, int], None] | None,
) -> int:
    """Binary-COPY `batches` into the existing `schema.table`; report rows as they land."""
    done = 0
    for batch in batches:
        cur.adbc_ingest(table, batch, mode="append", db_schema_name=schema)
        done += batch.num_rows
        if on_progress is not None:
            on_progress(table, done)
    return done


# ---------------------------------------------------------------------------------------------
# Public API.


@dataclass
class GenerateResult:
    """Rows loaded per table and the wall time of the whole generate."""

    rows: dict[str, int]
    seconds: float


def _require(**counts: int) -> None:
    """ConfigError unless every count is at least its minimum (1 for *s, 0 for the rest)."""
    for name, value in counts.items():
        minimum = 1 if name in {"customers", "products", "days"} else 0
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")


@dataclass(frozen=True)
class _World:
    """Every table but sale_transactions, plus what the transactions are drawn from."""

    tables: dict[str, pa.Table]
    population: _Population
    eligible_by_day: Ints  # customers signed up before each day of the window


def _small_tables(seed: int, customers: int, products: int, cal: _Calendar) -> _World:
    """Build customers, products, stores, inventory and sales_managers (in memory)."""
    customer_table, signups = _customers(seed, customers, cal)
    product_table, catalog = _products(seed, products, cal)
    store_table = _stores(seed, cal)
    opened = np.asarray(store_table["opened_on"].cast(pa.int32()).to_numpy(), dtype=np.int64)
    inventory = _inventory(
        seed,
        cal,
        catalog,
        _column_us(store_table, "created_at"),
        _column_us(product_table, "created_at"),
    )
    population = _population(
        _rng(seed, _BUYERS),
        np.arange(1, len(signups) + 1),
        catalog,
        np.arange(1, len(STORES) + 1),
    )
    tables = {
        "customers": customer_table,
        "products": product_table,
        "stores": store_table,
        "inventory": inventory,
        "sales_managers": _sales_managers(seed, cal, opened),
    }
    eligible = np.searchsorted(signups, cal.day_start_us, side="left").astype(np.int64)
    return _World(tables, population, np.maximum(eligible, 1))


def generate(
    url: str,
    *,
    transactions: int = 1_020_500,
    customers: int = 7_500,
    products: int = 600,
    seed: int = 42,
    end: date = date(2025, 12, 31),
    days: int = 730,
    schema: str = "public",
    on_progress: Callable[[str, int], None] | None = None,
) -> GenerateResult:
    """(Re)create the six ShopEase tables in the PostgreSQL database at `url` and fill them.

    One transaction: the tables are dropped and created without indexes, loaded by binary COPY
    (sale_transactions in chunks of CHUNK_ROWS, the next chunk drawn while the previous one
    loads), then indexed and analysed. A failure leaves the previous tables untouched.
    """
    _require(transactions=transactions, customers=customers, products=products, days=days)
    started = time.perf_counter()
    cal = _calendar(seed, transactions, end, days)
    world = _small_tables(seed, customers, products, cal)
    chunks = -(-transactions // CHUNK_ROWS)

    def chunk(index: int) -> pa.Table:
        return _transaction_chunk(seed, index, cal, world.population, world.eligible_by_day)

    with _connect(url) as conn, conn.cursor() as cur:
        for sql in create_statements(schema):
            cur.execute(sql)
        rows = {
            name: _ingest(cur, schema, name, [table], on_progress)
            for name, table in world.tables.items()
        }
        rows["sale_transactions"] = _ingest(
            cur, schema, "sale_transactions", _prefetched(chunk, chunks), on_progress
        )
        for sql in index_statements(schema):
            cur.execute(sql)
        conn.commit()
    return GenerateResult(
        rows={t: rows[t] for t in SOURCE_TABLES}, seconds=time.perf_counter() - started
    )


# ---------------------------------------------------------------------------------------------
# Incremental activity after a first extract.


@dataclass
class ChangeResult:
    """What `apply_changes` did; `now` is the updated_at every touched row received."""

    new_transactions: int
    updated_transactions: int
    late_transactions: int
    new_customers: int
    updated_customers: int
    updated_products: int
    now: datetime


@dataclass
class _State:
    """The source as it is before the changes."""

    max_transaction_id: int
    max_updated_us: int  # the latest updated_at in any of the six tables
    customer_ids: Ints  # distinct, ascending
    product_ids: Ints
    product_cents: Ints
    store_ids: Ints


def _column(cur: Any, sql: str) -> Ints:
    """The first column of a query's result as int64."""
    cur.execute(sql)
    values = cur.fetch_arrow_table().column(0).to_numpy(zero_copy_only=False)
    return np.array(values, dtype=np.int64)  # a writable copy


def _read_state(cur: Any, schema: str) -> _State:
    def q(table: str) -> str:
        return _qualified(schema, table)

    latest = " UNION ALL ".join(f"SELECT max(updated_at) AS m FROM {q(t)}" for t in SOURCE_TABLES)
    cur.execute(f"SELECT max(m) FROM ({latest}) AS x")
    max_updated = cur.fetchone()[0] or EPOCH
    cur.execute(f"SELECT coalesce(max(transaction_id), 0) FROM {q('sale_transactions')}")
    max_transaction_id = int(cur.fetchone()[0])
    return _State(
        max_transaction_id=max_transaction_id,
        max_updated_us=_us(max_updated),
        customer_ids=_column(cur, f"SELECT DISTINCT customer_id FROM {q('customers')} ORDER BY 1"),
        product_ids=_column(cur, f"SELECT product_id FROM {q('products')} ORDER BY 1"),
        product_cents=_column(
            cur, f"SELECT (price * 100)::bigint FROM {q('products')} ORDER BY product_id"
        ),
        store_ids=_column(cur, f"SELECT store_id FROM {q('stores')} ORDER BY 1"),
    )


def _change_time(now: datetime | None, max_updated_us: int) -> int:
    """`now` (default: the current UTC time) as naive-UTC microseconds, moved to 1 ms after the
    latest updated_at if it is not already later, so an updated_at watermark sees every change."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return max(_us(now), max_updated_us + 1_000)


_CHANGES_TABLE = "shopease_pending_changes"


def _update_from(cur: Any, target: str, key: str, changes: pa.Table, assignments: str) -> int:
    """UPDATE `target` from `changes` (loaded into a temporary table by COPY, joined on `key`);
    returns the number of distinct keys updated."""
    cur.adbc_ingest(_CHANGES_TABLE, changes, mode="create", temporary=True)
    cur.execute(
        f"WITH done AS (UPDATE {target} AS t SET {assignments} FROM {_CHANGES_TABLE} AS c "
        f"WHERE t.{key} = c.{key} RETURNING t.{key}) SELECT count(DISTINCT {key}) FROM done"
    )
    count = int(cur.fetchone()[0])
    cur.execute(f"DROP TABLE {_CHANGES_TABLE}")
    return count


def _sample(rng: np.random.Generator, ids: Ints, count: int) -> Ints:
    """Up to `count` distinct ids, ascending."""
    return np.sort(rng.choice(ids, size=min(count, len(ids)), replace=False))


def _reprice(rng: np.random.Generator, cents: Ints) -> Ints:
    """New prices: mostly 3-20% increases, some cuts; a bad (≤ 0) price gets fixed."""
    n = len(cents)
    change = rng.uniform(0.03, 0.2, n) * np.where(rng.random(n) < 0.7, 1.0, -1.0)
    fixed = _list_prices(rng, np.full(n, 40.0))
    return np.where(cents > 0, np.maximum(np.rint(cents * (1.0 + change)), 1), fixed).astype(
        np.int64
    )


def _update_products(
    cur: Any, rng: np.random.Generator, schema: str, state: _State, count: int, now_us: int
) -> int:
    """Reprice `count` products (and keep `state.product_cents` in step for new sales)."""
    index = _sample(rng, np.arange(len(state.product_ids)), count)
    if len(index) == 0:
        return 0
    cents = _reprice(rng, state.product_cents[index])
    state.product_cents[index] = cents
    changes = pa.table(
        {
            "product_id": _int32(state.product_ids[index]),
            "price": _decimal(cents),
            "updated_at": _timestamps(np.full(len(index), now_us)),
        }
    )
    target = _qualified(schema, "products")
    sets = "price = c.price, updated_at = c.updated_at"
    return _update_from(cur, target, "product_id", changes, sets)


_CUSTOMER_CHANGES = """
    address = coalesce(c.address, t.address), city = coalesce(c.city, t.city),
    state = coalesce(c.state, t.state), zip_code = coalesce(c.zip_code, t.zip_code),
    phone = coalesce(c.phone, t.phone),
    email = CASE WHEN c.email_domain IS NULL THEN t.email ELSE lower(regexp_replace(
        regexp_replace(btrim(t.customer_name), '[^A-Za-z ]', '', 'g'), ' +', '.', 'g'))
        || c.email_suffix || '@' || c.email_domain END,
    updated_at = c.updated_at"""


def _update_customers(
    cur: Any, rng: np.random.Generator, schema: str, state: _State, count: int, now_us: int
) -> int:
    """Half the chosen customers move (address, city, state, ZIP, phone), half change email
    (derived from their name in SQL); duplicate rows of a customer change together."""
    ids = _sample(rng, state.customer_ids, count)
    n = len(ids)
    if n == 0:
        return 0
    moves = pa.array(rng.random(n) < 0.5)
    places = _places(rng, n)
    none = pa.scalar(None, pa.string())
    moved = {
        "address": _addresses(rng, n),
        "city": places["city"],
        "state": places["state"],
        "zip_code": places["zip_code"],
        "phone": _phones(rng, places["area"]),
    }
    columns = {"customer_id": _int32(ids)}
    columns |= {name: pc.if_else(moves, value, none) for name, value in moved.items()}
    columns["email_suffix"] = _text(rng.integers(1, 100, n))
    domain = _pick(EMAIL_DOMAINS, _draw(rng, _cdf(EMAIL_SHARES), n))
    columns["email_domain"] = pc.if_else(moves, none, domain)
    columns["updated_at"] = _timestamps(np.full(n, now_us))
    target = _qualified(schema, "customers")
    return _update_from(cur, target, "customer_id", pa.table(columns), _CUSTOMER_CHANGES)


_TRANSACTION_CHANGES = """
    quantity = coalesce(c.quantity, t.quantity),
    unit_price = CASE WHEN c.price_factor IS NULL THEN t.unit_price
        ELSE round(t.unit_price * c.price_factor::numeric, 2) END,
    payment_method = coalesce(c.payment_method, t.payment_method),
    updated_at = c.updated_at"""


def _update_transactions(
    cur: Any, rng: np.random.Generator, schema: str, state: _State, count: int, now_us: int
) -> int:
    """Corrections to existing lines: a new quantity, a price adjustment or another payment
    method (one of the three per line)."""
    ids = _sample(rng, np.arange(1, state.max_transaction_id + 1), count)
    n = len(ids)
    if n == 0:
        return 0
    kind = rng.integers(0, 3, n)
    changes = pa.table(
        {
            "transaction_id": pa.array(ids),
            "quantity": pa.array(rng.integers(1, 6, n).astype(np.int32), mask=kind != 0),
            "price_factor": pa.array(
                rng.choice([0.8, 0.85, 0.9, 0.95, 1.05, 1.1], n), mask=kind != 1
            ),
            "payment_method": pc.if_else(
                pa.array(kind == 2),
                _pick(PAYMENT_METHODS, rng.integers(0, len(PAYMENT_METHODS), n)),
                pa.scalar(None, pa.string()),
            ),
            "updated_at": _timestamps(np.full(n, now_us)),
        }
    )
    target = _qualified(schema, "sale_transactions")
    return _update_from(cur, target, "transaction_id", changes, _TRANSACTION_CHANGES)


def _insert_customers(
    cur: Any, rng: np.random.Generator, schema: str, state: _State, count: int, now_us: int
) -> int:
    """Sign-ups with ids after the current maximum, created and updated `now`."""
    first = int(state.customer_ids.max(initial=0)) + 1
    ids = np.arange(first, first + count, dtype=np.int64)
    stamps = np.full(count, now_us)
    rows = _customer_rows(rng, ids, stamps, stamps)
    state.customer_ids = np.concatenate([state.customer_ids, ids])
    return _ingest(cur, schema, "customers", [rows], None)


def _insert_transactions(
    cur: Any,
    rng: np.random.Generator,
    schema: str,
    state: _State,
    counts: tuple[int, int, int],
    now_us: int,
) -> None:
    """`counts[0]` sales made `now`, then `counts[1]` back-dated ones (created 1-30 days ago
    but entered `now`), bought by customers among the first `counts[2]` (those existing then)."""
    fresh, late, old_customers = counts
    catalog = _Catalog(
        list_cents=np.where(state.product_cents > 0, state.product_cents, 2_999),
        popularity=np.power(rng.permutation(len(state.product_ids)) + 1.0, -0.8),
    )
    pop = _population(rng, state.customer_ids, catalog, state.store_ids, state.product_ids)
    back_dated = now_us - US_PER_DAY - rng.integers(US_PER_SECOND, 29 * US_PER_DAY, late)
    created = np.concatenate([np.full(fresh, now_us), np.sort(back_dated)])
    eligible = np.concatenate(
        [np.full(fresh, len(state.customer_ids)), np.full(late, max(old_customers, 1))]
    )
    ids = state.max_transaction_id + 1 + np.arange(fresh + late, dtype=np.int64)
    rows = _sale_rows(rng, pop, ids, created, np.full(fresh + late, now_us), eligible)
    _ingest(cur, schema, "sale_transactions", [rows], None)


def apply_changes(
    url: str,
    *,
    new_transactions: int = 1000,
    updated_transactions: int = 200,
    late_transactions: int = 50,
    new_customers: int = 20,
    updated_customers: int = 20,
    updated_products: int = 5,
    seed: int = 7,
    now: datetime | None = None,
    schema: str = "public",
) -> ChangeResult:
    """Simulate OLTP activity after a first extract, in one transaction.

    Reprices products, moves customers or changes their email, corrects existing sale lines,
    signs up customers and records sales (new ids after the current maxima), and back-dates
    some sales (created_at days ago, updated_at now), the rows a created_at watermark misses.
    Every touched row gets updated_at = `now` (default: the current UTC time), which is moved
    to 1 ms after the latest updated_at in the source if it is not already later.
    """
    _require(
        new_transactions=new_transactions,
        updated_transactions=updated_transactions,
        late_transactions=late_transactions,
        new_customers=new_customers,
        updated_customers=updated_customers,
        updated_products=updated_products,
    )
    rng = _rng(seed, _CHANGES)
    with _connect(url) as conn, conn.cursor() as cur:
        state = _read_state(cur, schema)
        if len(state.product_ids) == 0 or len(state.store_ids) == 0:
            raise ConfigError(f"schema {schema!r} holds no ShopEase products or stores")
        now_us = _change_time(now, state.max_updated_us)
        old_customers = len(state.customer_ids)
        result = ChangeResult(
            new_transactions=new_transactions,
            updated_transactions=_update_transactions(
                cur, rng, schema, state, updated_transactions, now_us
            ),
            late_transactions=late_transactions,
            new_customers=new_customers,
            updated_customers=_update_customers(cur, rng, schema, state, updated_customers, now_us),
            updated_products=_update_products(cur, rng, schema, state, updated_products, now_us),
            now=EPOCH + timedelta(microseconds=now_us),
        )
        _insert_customers(cur, rng, schema, state, new_customers, now_us)
        if old_customers + new_customers == 0 and new_transactions + late_transactions:
            raise ConfigError(f"schema {schema!r} holds no customers to sell to")
        counts = (new_transactions, late_transactions, old_customers)
        _insert_transactions(cur, rng, schema, state, counts, now_us)
        conn.commit()
    return result
