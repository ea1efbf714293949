"""The weather_sales sample source (seed 000): the seed's store and product masters and its
daily mock sales files, written into a local folder as the seed's `0.data_src/` holds them.

* `dim_store.csv` (`store_id,city,province,latitude,longitude,Region`): the seed's ten Thai
  stores, S01 Sathorn/Bangkok … S10 Rangsit/Pathum Thani.
* `dim_product.csv` (`id,name,price,category`): the seed's twenty products, in its order.
* `sales_transaction_data_YYYYMMDD.csv`, one per day, UTF-8 with a BOM (`utf-8-sig`) as the
  seed's pandas export: `transaction_id, store_id, sale_date, product_id, product_name,
  units_sold, sales_amount`; 50,000 rows a day by default. Store by the seed's shares, product
  by its normalised weights, `units_sold = max(1, round(Normal(base, 0.2·base)))`, `sale_date`
  a random second in [08:00, 22:00) of the day as `YYYYMMDD HH:MM:SS`, `sales_amount =
  round(units·price, 2)` written as pandas writes a float (`120.0`).

Two deliberate departures from the seed script: transaction ids (`TRX` + 7 digits) continue
across the days of one `generate` call instead of restarting at TRX0000001 in every file (the
seed's ids collide between days), and every day draws from its own generator seeded with
(seed, day), so a day's rows do not depend on which other days were generated — only its ids
do. The same seed, days and row count give the same bytes, hence the same MD5s.

`end` defaults to :data:`DEFAULT_END` (2026-01-10, the seed's last sample file), so a bare
`generate(folder)` is reproducible; `strata generate weather_sales` passes yesterday (UTC).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np

SALES_COLUMNS = (
    "transaction_id",
    "store_id",
    "sale_date",
    "product_id",
    "product_name",
    "units_sold",
    "sales_amount",
)
STORE_COLUMNS = ("store_id", "city", "province", "latitude", "longitude", "Region")
PRODUCT_COLUMNS = ("id", "name", "price", "category")
STORE_FILE = "dim_store.csv"
PRODUCT_FILE = "dim_product.csv"
SALES_FILE_PREFIX = "sales_transaction_data_"
SALES_ENCODING = "utf-8-sig"
DEFAULT_END = date(2026, 1, 10)
OPEN_SECOND, CLOSE_SECOND = 8 * 3600, 22 * 3600  # sales happen in [08:00, 22:00)


@dataclass(frozen=True)
class Store:
    store_id: str
    city: str
    province: str
    latitude: float
    longitude: float
    region: str


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: float
    base: float  # mean units per transaction
    weight: float  # relative draw weight (normalised before use)
    category: str


# The seed's dim_store.csv.
STORES: tuple[Store, ...] = (
    Store("S01", "Sathorn", "Bangkok", 13.725, 100.52, "Central"),
    Store("S02", "Mae Rim", "Chiang Mai", 18.892, 98.98, "North"),
    Store("S03", "Hat Yai", "Songkhla", 7.009, 100.47, "South"),
    Store("S04", "Muang", "Khon Kaen", 16.4385, 102.833, "Northeast"),
    Store("S05", "Sri Racha", "Chonburi", 13.167, 100.95, "East"),
    Store("S06", "Hua Hin", "Prachuap", 12.5681, 99.9575, "West"),
    Store("S07", "Muang", "Ubon Ratchathani", 15.225, 104.85, "Northeast"),
    Store("S08", "Muang", "Suratthani", 9.135, 99.316, "South"),
    Store("S09", "Muang", "Phitsanulok", 16.825, 100.26, "North"),
    Store("S10", "Rangsit", "Pathum Thani", 14.0381, 100.6152, "Central"),
)
# The seed's store shares (S01..S10; they sum to 1).
STORE_PROBABILITIES = (0.12, 0.14, 0.06, 0.08, 0.09, 0.09, 0.15, 0.08, 0.13, 0.06)

# The seed's product master, in its order. The weights sum to 0.97: draws normalise them.
PRODUCTS: tuple[Product, ...] = (
    Product("P001", "Cola", 20.0, 5.5, 0.10, "Beverage"),
    Product("P004", "Drinking Water 1.5 Litre", 15.0, 4.0, 0.10, "Beverage"),
    Product("P008", "Instant Cup Nooddle", 15.0, 3.5, 0.08, "Food"),
    Product("P019", "Cigarette Pack", 120.0, 1.0, 0.08, "Tobacco"),
    Product("P003", "Ice cream", 15.0, 3.0, 0.07, "Food"),
    Product("P006", "Beer can", 55.0, 2.5, 0.07, "Alcohol"),
    Product("P011", "Potato Chips", 30.0, 3.0, 0.06, "Snack"),
    Product("P014", "Loaf of Bread", 35.0, 1.5, 0.05, "Food"),
    Product("P015", "Bar Soap", 15.0, 1.0, 0.05, "Personal Care"),
    Product("P016", "Toothpaste", 55.0, 1.0, 0.05, "Personal Care"),
    Product("P002", "Electrolyte Drink", 25.0, 1.0, 0.03, "Beverage"),
    Product("P005", "Roll-on Deodorant", 45.0, 1.0, 0.03, "Personal Care"),
    Product("P007", "Instant Coffee", 10.0, 1.5, 0.03, "Beverage"),
    Product("P009", "Cold Medicine", 35.0, 1.0, 0.03, "Health"),
    Product("P010", "Folding Umbrella", 100.0, 1.0, 0.01, "Household/Misc"),
    Product("P012", "Mosquito Repellent", 65.0, 1.0, 0.03, "Household/Misc"),
    Product("P013", "Candle", 10.0, 1.0, 0.01, "Household/Misc"),
    Product("P017", "Fish Sauce", 30.0, 1.0, 0.03, "Condiment"),
    Product("P018", "Jasmine Rice 1 Kg", 40.0, 1.0, 0.03, "Food"),
    Product("P020", "Dishwashing Liquid", 30.0, 1.0, 0.03, "Cleaning"),
)


def product_probabilities() -> np.ndarray:
    """The products' draw probabilities: the seed's weights, normalised."""
    weights = np.array([p.weight for p in PRODUCTS], dtype=np.float64)
    return weights / weights.sum()


@dataclass
class Generated:
    """What `generate` wrote: data rows per file name (masters first), the days, the time."""

    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    days: list[date] = field(default_factory=list)
    seconds: float = 0.0


def sales_file_name(day: date) -> str:
    return f"{SALES_FILE_PREFIX}{day:%Y%m%d}.csv"


def _number(value: float) -> str:
    """A price as the seed's masters show it: `20`, not `20.0` (and `1.5` stays `1.5`)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def stores_csv() -> bytes:
    """`dim_store.csv` as the seed has it (UTF-8, no BOM)."""
    rows = [
        [s.store_id, s.city, s.province, repr(s.latitude), repr(s.longitude), s.region]
        for s in STORES
    ]
    return _csv(STORE_COLUMNS, rows).encode("utf-8")


def products_csv() -> bytes:
    """`dim_product.csv` as the seed has it (UTF-8, no BOM)."""
    rows = [[p.id, p.name, _number(p.price), p.category] for p in PRODUCTS]
    return _csv(PRODUCT_COLUMNS, rows).encode("utf-8")


# "HH:MM:SS" for every second of the day, built once: formatting 50,000 times a day would be
# the slowest part of a file otherwise.
_CLOCK = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]


def _day_rng(seed: int, day: date) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal()])


def _check_plain(values: Iterable[str]) -> None:
    # Sales lines are joined without the csv module (it is the slow part of a 50k-row file),
    # which is only right while no field needs quoting.
    for value in values:
        if any(c in value for c in ',"\r\n'):
            raise ValueError(f"{value!r} would need CSV quoting")


_check_plain([s.store_id for s in STORES] + [p.id for p in PRODUCTS] + [p.name for p in PRODUCTS])


def sales_lines(day: date, rows: int = 50_000, *, seed: int = 42, first_id: int = 1) -> list[str]:
    """One day's transactions as CSV lines (no header, no newline), `TRX{first_id:07d}` on."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    rng = _day_rng(seed, day)
    stores = rng.choice(len(STORES), size=rows, p=np.array(STORE_PROBABILITIES))
    products = rng.choice(len(PRODUCTS), size=rows, p=product_probabilities())
    base = np.array([p.base for p in PRODUCTS])[products]
    # np.round rounds half to even, as the seed's Python round() on a float does.
    units = np.maximum(1, np.round(rng.normal(base, 0.2 * base))).astype(np.int64)
    seconds = rng.integers(OPEN_SECOND, CLOSE_SECOND, size=rows)
    prices = np.array([p.price for p in PRODUCTS])[products]
    amounts = np.round(units * prices, 2)

    store_ids = [s.store_id for s in STORES]
    product_fields = [f"{p.id},{p.name}" for p in PRODUCTS]
    stamp = f"{day:%Y%m%d} "
    # `{amount!r}` prints a float as pandas does: 120.0, 12.5.
    return [
        f"TRX{number:07d},{store_ids[s]},{stamp}{_CLOCK[t]},{product_fields[p]},{u},{a!r}"
        for number, s, t, p, u, a in zip(
            range(first_id, first_id + rows),
            stores.tolist(),
            seconds.tolist(),
            products.tolist(),
            units.tolist(),
            amounts.tolist(),
            strict=True,
        )
    ]


def sales_rows(
    day: date, rows: int = 50_000, *, seed: int = 42, first_id: int = 1
) -> list[list[str]]:
    """One day's transactions as lists of CSV fields (strings), as in the file."""
    return [line.split(",") for line in sales_lines(day, rows, seed=seed, first_id=first_id)]


def sales_csv(day: date, rows: int = 50_000, *, seed: int = 42, first_id: int = 1) -> bytes:
    """One day's sales file, encoded as the seed writes it (utf-8-sig: with a BOM)."""
    lines = [",".join(SALES_COLUMNS), *sales_lines(day, rows, seed=seed, first_id=first_id)]
    return ("\n".join(lines) + "\n").encode(SALES_ENCODING)


WrongSchema = Literal["extra", "missing", "renamed", "reordered"]


def wrong_schema_file(
    day: date, kind: WrongSchema = "extra", *, rows: int = 100, seed: int = 42, first_id: int = 1
) -> tuple[str, bytes]:
    """A sales file for `day` whose header breaks the seed's exact-columns gate, for error-path
    tests: `(file name, bytes)`, named and encoded like a good file.

    * ``extra``: a `payment_method` column appended;
    * ``missing``: no `units_sold` column;
    * ``renamed``: `product_name` is called `product`;
    * ``reordered``: the right columns, `store_id` and `sale_date` swapped (the seed's gate
      wants the exact order too).
    """
    good = sales_rows(day, rows, seed=seed, first_id=first_id)
    header = list(SALES_COLUMNS)
    if kind == "extra":
        header.append("payment_method")
        methods = ("cash", "card", "qr")
        body = [[*row, methods[i % len(methods)]] for i, row in enumerate(good)]
    elif kind == "missing":
        at = header.index("units_sold")
        header.pop(at)
        body = [row[:at] + row[at + 1 :] for row in good]
    elif kind == "renamed":
        header[header.index("product_name")] = "product"
        body = good
    elif kind == "reordered":
        header[1], header[2] = header[2], header[1]
        body = [[row[0], row[2], row[1], *row[3:]] for row in good]
    else:
        raise ValueError(f"unknown wrong-schema kind {kind!r}")
    return sales_file_name(day), _csv(header, body).encode(SALES_ENCODING)


def yesterday_utc() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def generate(
    folder: Path,
    *,
    days: int = 7,
    end: date | None = None,
    rows_per_day: int = 50_000,
    seed: int = 42,
) -> Generated:
    """Write `dim_store.csv`, `dim_product.csv` and one sales file per day for the `days` days
    ending at `end` (inclusive; default :data:`DEFAULT_END`) into `folder`.

    Transaction ids run from TRX0000001 on the first day and continue across the days. Files
    already there are overwritten.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    started = time.perf_counter()
    last = end or DEFAULT_END
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    made = Generated(folder)
    (folder / STORE_FILE).write_bytes(stores_csv())
    made.rows[STORE_FILE] = len(STORES)
    (folder / PRODUCT_FILE).write_bytes(products_csv())
    made.rows[PRODUCT_FILE] = len(PRODUCTS)
    next_id = 1
    for offset in range(days - 1, -1, -1):
        day = last - timedelta(days=offset)
        name = sales_file_name(day)
        (folder / name).write_bytes(sales_csv(day, rows_per_day, seed=seed, first_id=next_id))
        made.rows[name] = rows_per_day
        made.days.append(day)
        next_id += rows_per_day
    made.seconds = time.perf_counter() - started
    return made
