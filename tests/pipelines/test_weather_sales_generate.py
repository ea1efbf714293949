"""The weather_sales sample source: the seed's masters and daily mock sales files."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from strata.pipelines.weather_sales.generate import (
    DEFAULT_END,
    PRODUCTS,
    SALES_COLUMNS,
    STORE_PROBABILITIES,
    STORES,
    WrongSchema,
    generate,
    product_probabilities,
    sales_csv,
    sales_rows,
    wrong_schema_file,
)

DAY = date(2026, 1, 4)
BOM = b"\xef\xbb\xbf"


def read_sales(raw: bytes) -> list[dict[str, str]]:
    assert raw.startswith(BOM)
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.fixture(scope="module")
def big_day() -> list[dict[str, str]]:
    return read_sales(sales_csv(DAY, 50_000))


def test_masters_follow_the_seed(tmp_path: Path) -> None:
    made = generate(tmp_path, days=1, end=DAY, rows_per_day=10)

    stores = (tmp_path / "dim_store.csv").read_bytes()
    assert not stores.startswith(BOM)
    lines = stores.decode().splitlines()
    assert lines[0] == "store_id,city,province,latitude,longitude,Region"
    assert lines[1] == "S01,Sathorn,Bangkok,13.725,100.52,Central"
    rows = list(csv.DictReader(io.StringIO(stores.decode())))
    assert [r["store_id"] for r in rows] == [f"S{n:02d}" for n in range(1, 11)]
    # All ten are in Thailand.
    assert all(5.5 < float(r["latitude"]) < 20.5 and 97 < float(r["longitude"]) < 106 for r in rows)

    products = (tmp_path / "dim_product.csv").read_text()
    assert products.splitlines()[0] == "id,name,price,category"
    assert products.splitlines()[1] == "P001,Cola,20,Beverage"
    product_rows = list(csv.DictReader(io.StringIO(products)))
    assert len(product_rows) == 20 and len({r["id"] for r in product_rows}) == 20
    assert {r["category"] for r in product_rows} == {
        "Beverage",
        "Food",
        "Tobacco",
        "Alcohol",
        "Snack",
        "Personal Care",
        "Health",
        "Household/Misc",
        "Condiment",
        "Cleaning",
    }
    assert made.rows == {
        "dim_store.csv": 10,
        "dim_product.csv": 20,
        "sales_transaction_data_20260104.csv": 10,
    }


def test_product_master_matches_the_seed() -> None:
    by_id = {p.id: p for p in PRODUCTS}
    assert (by_id["P001"].price, by_id["P001"].base, by_id["P001"].weight) == (20.0, 5.5, 0.10)
    assert (by_id["P019"].name, by_id["P019"].price) == ("Cigarette Pack", 120.0)
    assert by_id["P010"].weight == 0.01 and by_id["P013"].weight == 0.01
    assert sum(p.weight for p in PRODUCTS) == pytest.approx(0.97)  # hence the normalising
    assert product_probabilities().sum() == pytest.approx(1.0)
    assert len(STORES) == 10 and sum(STORE_PROBABILITIES) == pytest.approx(1.0)


def test_sales_file_columns_and_encoding() -> None:
    raw = sales_csv(DAY, 5)
    assert raw.startswith(BOM + b"transaction_id,store_id,sale_date,product_id,")
    header = raw[len(BOM) :].split(b"\n")[0].decode()
    assert header.split(",") == list(SALES_COLUMNS)
    assert raw.endswith(b"\n") and b"\r" not in raw
    first = raw.split(b"\n")[1].decode().split(",")
    assert first[0] == "TRX0000001" and first[6].endswith(".0")  # written as pandas does


def test_rows_follow_the_seed_rules(big_day: list[dict[str, str]]) -> None:
    assert len(big_day) == 50_000
    prices = {p.id: p.price for p in PRODUCTS}
    names = {p.id: p.name for p in PRODUCTS}
    hours: Counter[int] = Counter()
    for row in big_day:
        units = int(row["units_sold"])
        assert units >= 1
        assert float(row["sales_amount"]) == round(units * prices[row["product_id"]], 2)
        assert row["product_name"] == names[row["product_id"]]
        stamp = row["sale_date"]
        assert stamp.startswith("20260104 ") and len(stamp) == 17
        hours[int(stamp[9:11])] += 1
    assert min(hours) == 8 and max(hours) == 21  # [08:00, 22:00)
    assert [r["transaction_id"] for r in big_day[:2]] == ["TRX0000001", "TRX0000002"]
    assert big_day[-1]["transaction_id"] == "TRX0050000"


def test_store_and_product_shares_match_the_seed(big_day: list[dict[str, str]]) -> None:
    stores = Counter(r["store_id"] for r in big_day)
    for store, p in zip(STORES, STORE_PROBABILITIES, strict=True):
        assert stores[store.store_id] / 50_000 == pytest.approx(p, abs=0.01)
    products = Counter(r["product_id"] for r in big_day)
    for product, p in zip(PRODUCTS, product_probabilities(), strict=True):
        assert products[product.id] / 50_000 == pytest.approx(p, abs=0.01)


def test_units_follow_normal_around_base(big_day: list[dict[str, str]]) -> None:
    cola = [int(r["units_sold"]) for r in big_day if r["product_id"] == "P001"]
    mean = sum(cola) / len(cola)
    assert mean == pytest.approx(5.5, abs=0.15)
    assert set(cola) <= set(range(1, 12))
    cigarettes = Counter(int(r["units_sold"]) for r in big_day if r["product_id"] == "P019")
    # Normal(1, 0.2): above 1.5 (→ 2) is 2.5 sigma out, ~0.6 %; below 0.5 is lifted to 1.
    assert set(cigarettes) == {1, 2} and cigarettes[2] / cigarettes.total() < 0.02


def test_ids_continue_across_days_and_files_are_reproducible(tmp_path: Path) -> None:
    made = generate(tmp_path / "a", days=3, end=date(2026, 1, 10), rows_per_day=200)
    assert made.days == [date(2026, 1, 8), date(2026, 1, 9), date(2026, 1, 10)]
    assert list(made.rows)[2:] == [
        "sales_transaction_data_20260108.csv",
        "sales_transaction_data_20260109.csv",
        "sales_transaction_data_20260110.csv",
    ]
    ids = []
    for name in list(made.rows)[2:]:
        rows = read_sales((tmp_path / "a" / name).read_bytes())
        assert {r["sale_date"][:8] for r in rows} == {name[-12:-4]}
        ids += [r["transaction_id"] for r in rows]
    assert ids == [f"TRX{n:07d}" for n in range(1, 601)]

    generate(tmp_path / "b", days=3, end=date(2026, 1, 10), rows_per_day=200)
    other_seed = generate(tmp_path / "c", days=3, end=date(2026, 1, 10), rows_per_day=200, seed=7)
    for name in made.rows:
        md5 = hashlib.md5((tmp_path / "a" / name).read_bytes()).hexdigest()
        assert md5 == hashlib.md5((tmp_path / "b" / name).read_bytes()).hexdigest()
    changed = [
        name
        for name in other_seed.rows
        if (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    ]
    assert changed == list(made.rows)[2:]  # masters do not depend on the seed


def test_a_days_rows_do_not_depend_on_the_window() -> None:
    alone = sales_rows(DAY, 50, first_id=1)
    later = sales_rows(DAY, 50, first_id=101)
    assert [r[1:] for r in alone] == [r[1:] for r in later]
    assert later[0][0] == "TRX0000101"
    next_day = sales_rows(date(2026, 1, 5), 50)
    assert [r[1:] for r in next_day] != [r[1:] for r in alone]


def test_default_end_is_fixed(tmp_path: Path) -> None:
    made = generate(tmp_path, days=2, rows_per_day=1)
    assert made.days[-1] == DEFAULT_END == date(2026, 1, 10)
    assert made.seconds >= 0


def test_fifty_thousand_rows_a_day_are_fast(tmp_path: Path) -> None:
    made = generate(tmp_path, days=2, end=DAY)
    assert made.seconds < 2.0  # ~0.05 s a day on one core; generous for a busy machine


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("extra", [*SALES_COLUMNS, "payment_method"]),
        ("missing", [c for c in SALES_COLUMNS if c != "units_sold"]),
        (
            "renamed",
            [("product" if c == "product_name" else c) for c in SALES_COLUMNS],
        ),
        (
            "reordered",
            ["transaction_id", "sale_date", "store_id", *SALES_COLUMNS[3:]],
        ),
    ],
)
def test_wrong_schema_files(kind: WrongSchema, expected: list[str]) -> None:
    name, raw = wrong_schema_file(DAY, kind, rows=20)
    assert name == "sales_transaction_data_20260104.csv"
    rows = read_sales(raw)
    assert list(rows[0]) == expected and len(rows) == 20
    assert all(len(r) == len(expected) for r in rows)
    if kind == "reordered":
        assert rows[0]["store_id"].startswith("S") and rows[0]["sale_date"].startswith("2026")
    assert expected != list(SALES_COLUMNS)


def test_wrong_schema_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown"):
        wrong_schema_file(DAY, "sideways")  # type: ignore[arg-type]
