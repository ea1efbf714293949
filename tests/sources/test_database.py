"""Database sources on the real local PostgreSQL and MariaDB: discovery, full and incremental
extraction, updates and late (back-dated) rows, the checkpoint stored with the bronze load."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from strata.errors import ConfigError, DatabaseUnavailable, SourceError
from strata.lake.bronze import Bronze
from strata.lake.storage import Lake
from strata.sources.database import DatabaseSource
from strata.sources.extract import TableSpec, checkpoint, extract_to_bronze

ORDERS = TableSpec("orders", "updated_at")


@dataclass
class Db:
    """A source database with a tiny `orders` table, driven through plain SQL."""

    url: str
    execute: Callable[[str], None]
    placeholder: str


def _pg(url: str) -> Iterator[Db]:
    import adbc_driver_postgresql.dbapi as pg

    con = pg.connect(url, autocommit=True)

    def execute(sql: str) -> None:
        with con.cursor() as cur:
            cur.execute(sql)

    execute(
        "CREATE TABLE orders (id integer PRIMARY KEY, amount numeric(10,2), note text, "
        "updated_at timestamp NOT NULL)"
    )
    yield Db(url, execute, "$1")
    con.close()


def _mysql(url: str) -> Iterator[Db]:
    import pymysql

    from strata.db import DatabaseUrl

    parts = DatabaseUrl.parse(url)
    con = pymysql.connect(
        host=parts.host,
        port=parts.port or 3306,
        user=parts.user,
        database=parts.database,
        autocommit=True,
        charset="utf8mb4",
    )

    def execute(sql: str) -> None:
        with con.cursor() as cur:
            cur.execute(sql)

    execute(
        "CREATE TABLE orders (id integer PRIMARY KEY, amount decimal(10,2), note text, "
        "updated_at datetime(6) NOT NULL)"
    )
    yield Db(url, execute, "%s")
    con.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[Db]:
    if request.param == "postgresql":
        yield from _pg(request.getfixturevalue("pg_url"))
    else:
        yield from _mysql(request.getfixturevalue("mysql_url"))


@pytest.fixture
def bronze(tmp_path: Path) -> Bronze:
    return Bronze(Lake(str(tmp_path / "lake")), "shop", "orders")


def insert(db: Db, *rows: tuple[int, str, str, str]) -> None:
    values = ", ".join(f"({i}, {a}, '{n}', '{t}')" for i, a, n, t in rows)
    db.execute(f"INSERT INTO orders (id, amount, note, updated_at) VALUES {values}")


def pull(db: Db, bronze: Bronze, **kwargs: Any) -> tuple[list[dict[str, Any]], Any]:
    with DatabaseSource(db.url, batch_rows=2) as source:
        load = extract_to_bronze(source, bronze, ORDERS, fmt="parquet", run_id="r", **kwargs)
    if load.load_id is None or load.rows == 0:
        return [], load
    manifest = bronze.manifest(load.load_id)
    assert manifest is not None
    return sorted(bronze.read(manifest).to_pylist(), key=lambda r: r["id"]), load


def test_discovery_and_types(db: Db) -> None:
    insert(db, (1, "12.50", "a", "2024-01-01 10:00:00.123456"))
    with DatabaseSource(db.url) as source:
        assert "orders" in source.tables()
        info = source.describe("orders")
        assert [c.name for c in info.columns] == ["id", "amount", "note", "updated_at"]
        assert info.primary_key == ("id",)
        data = source.extract("orders").reader.read_all()
    assert data.schema.field("amount").type == pa.decimal128(10, 2)
    assert data.schema.field("updated_at").type == pa.timestamp("us")
    assert data.to_pylist()[0]["amount"] == Decimal("12.50")
    assert data.to_pylist()[0]["updated_at"].microsecond == 123456


def test_incremental_extract_reads_only_changes_including_updates_and_late_rows(
    db: Db, bronze: Bronze
) -> None:
    insert(db, *[(i, f"{i}.00", "new", f"2024-01-0{i} 00:00:00") for i in range(1, 6)])
    rows, first = pull(db, bronze)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5] and first.after is None
    assert checkpoint(bronze) == first.upto and first.upto.startswith("2024-01-05 00:00:00")

    nothing, idle = pull(db, bronze)
    assert nothing == [] and idle.load_id is None and checkpoint(bronze) == first.upto

    db.execute(
        "UPDATE orders SET note = 'changed', updated_at = '2024-02-01 00:00:00' WHERE id = 2"
    )
    # A late row: created long ago, but written (updated_at) now.
    insert(
        db, (6, "6.00", "late", "2024-02-01 00:00:01"), (7, "7.00", "new", "2024-02-02 00:00:00")
    )
    rows, second = pull(db, bronze)
    assert [(r["id"], r["note"]) for r in rows] == [(2, "changed"), (6, "late"), (7, "new")]
    assert second.after == first.upto and second.upto.startswith("2024-02-02")

    everything, full = pull(db, bronze, full_refresh=True)
    assert [r["id"] for r in everything] == [1, 2, 3, 4, 5, 6, 7] and full.after is None


def test_lookback_picks_up_a_row_committed_late_with_an_older_timestamp(
    db: Db, bronze: Bronze
) -> None:
    insert(db, (1, "1.00", "a", "2024-01-01 00:00:00"), (2, "2.00", "b", "2024-01-01 00:10:00"))
    pull(db, bronze)
    # Written at 00:05 by a transaction that committed after the extract: behind the checkpoint.
    insert(db, (3, "3.00", "late", "2024-01-01 00:05:00"))
    missed, _ = pull(db, bronze)
    assert missed == []
    found, load = pull(db, bronze, lookback_seconds=3600)
    assert [r["id"] for r in found] == [1, 2, 3]  # the window's rows again; merged by key later
    assert load.after.startswith("2024-01-01 00:10:00")


def test_lookback_needs_a_time_cursor(db: Db) -> None:
    with DatabaseSource(db.url) as source, pytest.raises(ConfigError, match="date/time cursor"):
        source.extract("orders", "id", after="1", lookback_seconds=60)


def test_a_crash_before_the_manifest_repeats_the_range(db: Db, bronze: Bronze) -> None:
    insert(db, (1, "1.00", "a", "2024-01-01 00:00:00"))
    pull(db, bronze)
    insert(db, (2, "2.00", "b", "2024-01-02 00:00:00"))

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed mid-write")

    original = bronze.lake.write_bytes
    bronze.lake.write_bytes = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        pull(db, bronze)
    bronze.lake.write_bytes = original  # type: ignore[method-assign]
    rows, _ = pull(db, bronze)
    assert [r["id"] for r in rows] == [2]


def test_unknown_table_and_cursor_are_named(db: Db) -> None:
    with DatabaseSource(db.url) as source:
        with pytest.raises(SourceError, match=r"'nope' not found .*orders"):
            source.extract("nope")
        with pytest.raises(SourceError, match="no column 'changed_at'"):
            source.extract("orders", "changed_at")


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unreachable_database_is_transient_and_redacted(scheme: str) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        DatabaseSource(f"{scheme}://app:hunter2@127.0.0.1:9/shop")
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_an_integer_cursor_moves_forward(db: Db, bronze: Bronze) -> None:
    insert(db, (1, "1.00", "a", "2024-01-01 00:00:00"), (2, "2.00", "b", "2024-01-01 00:00:00"))
    by_id = TableSpec("orders", "id")
    with DatabaseSource(db.url) as source:
        first = extract_to_bronze(source, bronze, by_id, fmt="parquet", run_id="r")
        insert(db, (3, "3.00", "c", "2024-01-01 00:00:00"))
        second = extract_to_bronze(source, bronze, by_id, fmt="parquet", run_id="r")
    assert (first.rows, first.upto, second.rows, second.after, second.upto) == (2, "2", 1, "2", "3")


def test_composite_primary_key_keeps_its_declared_order(db: Db) -> None:
    db.execute("CREATE TABLE pairs (a integer NOT NULL, b integer NOT NULL, PRIMARY KEY (b, a))")
    with DatabaseSource(db.url) as source:
        assert source.describe("pairs").primary_key == ("b", "a")


def test_postgres_enum_cursor_and_wide_numeric(pg_url: str, tmp_path: Path) -> None:
    db = next(_pg(pg_url))
    db.execute("CREATE TYPE stage AS ENUM ('new', 'paid', 'shipped')")
    db.execute("CREATE TABLE flow (id int PRIMARY KEY, stage stage, big numeric(50, 2))")
    db.execute("INSERT INTO flow VALUES (1, 'new', 1.5), (2, 'paid', 12345678901234567890123.45)")
    bronze = Bronze(Lake(str(tmp_path / "lake")), "shop", "flow")
    with DatabaseSource(pg_url) as source:
        load = extract_to_bronze(
            source, bronze, TableSpec("flow", "stage"), fmt="parquet", run_id="r"
        )
        db.execute("INSERT INTO flow VALUES (3, 'shipped', NULL)")
        again = extract_to_bronze(
            source, bronze, TableSpec("flow", "stage"), fmt="parquet", run_id="r"
        )
    assert (load.rows, load.upto, again.rows, again.upto) == (2, "paid", 1, "shipped")
    manifest = bronze.manifest(load.load_id or 0)
    assert manifest is not None
    big = bronze.read(manifest).sort_by("id").column("big").to_pylist()
    assert big == [Decimal("1.50"), Decimal("12345678901234567890123.45")]


def test_mysql_unsigned_time_year_and_binary_columns(mysql_url: str) -> None:
    db = next(_mysql(mysql_url))
    db.execute(
        "CREATE TABLE odd (id bigint unsigned PRIMARY KEY, n int unsigned, t time, y year, "
        "b varbinary(4))"
    )
    db.execute(
        "INSERT INTO odd VALUES (18446744073709551615, 4294967295, '12:30:01', 2024, 0xff00)"
    )
    with DatabaseSource(mysql_url) as source:
        row = source.extract("odd").reader.read_all().to_pylist()[0]
    assert row["id"] == 18446744073709551615 and row["n"] == 4294967295
    assert row["t"].total_seconds() == 45001 and row["y"] == 2024 and row["b"] == b"\xff\x00"
