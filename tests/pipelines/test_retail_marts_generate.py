"""The retail_marts sample source on the real MariaDB and a local landing area."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pyarrow.csv as pacsv
import pymysql

from strata.db import DatabaseUrl
from strata.files import Landing
from strata.files.validate import validate_csv
from strata.pipelines.retail_marts.generate import SALES_COLUMNS, generate, sales_files


def fetch(url: str, sql: str) -> list[tuple[object, ...]]:
    parsed = DatabaseUrl.parse(url)
    con = pymysql.connect(
        host=parsed.host, port=parsed.port or 3306, user=parsed.user, database=parsed.database
    )
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        con.close()


def test_dimensions_and_files_follow_the_seed(mysql_url: str, tmp_path: Path) -> None:
    landing = Landing(str(tmp_path / "landing"))
    made = generate(mysql_url, landing, big_rows=5000)
    assert made.tables == {"customer": 25, "store": 4, "product": 8, "sales_team": 10}
    assert fetch(mysql_url, "SELECT id, store_manager_name FROM store ORDER BY id") == [
        (121, "Manish"),
        (122, "Nikita"),
        (123, "vikash"),
        (124, "Rakesh"),
    ]
    assert fetch(mysql_url, "SELECT current_price FROM product WHERE name = 'clinic plus'") == [
        (Decimal("1.50"),)
    ]
    assert fetch(mysql_url, "SELECT id, is_manager FROM sales_team WHERE manager_id IS NULL") == [
        (10, "Y")
    ]
    assert {p for (p,) in fetch(mysql_url, "SELECT DISTINCT pincode FROM customer")} == {"122009"}

    names = sorted(f.name for f in landing.files("sales_data"))
    assert names == sorted(made.files.values()) and len(names) == 9
    good = pacsv.read_csv(io.BytesIO(landing.read(made.files["sales"])))
    assert good.column_names == SALES_COLUMNS and good.num_rows == 500
    rows = good.to_pylist()
    assert all(r["total_cost"] == r["price"] * r["quantity"] for r in rows)
    assert {r["store_id"] for r in rows} <= {121, 122, 123}
    assert all(1 <= r["customer_id"] <= 20 and 1 <= r["quantity"] <= 10 for r in rows)
    big = pacsv.read_csv(io.BytesIO(landing.read(made.files["one_date"])))
    assert big.num_rows == 5000 and len(set(big.column("sales_date").to_pylist())) == 1
    extra = pacsv.read_csv(io.BytesIO(landing.read(made.files["extra_column"])))
    assert set(extra.column("payment_mode").to_pylist()) == {"cash", "UPI"}
    missing = pacsv.read_csv(io.BytesIO(landing.read(made.files["missing_column"])))
    assert "store_id" not in missing.column_names and missing.num_rows == 200


def test_broken_files_are_broken_as_described() -> None:
    files = {kind: body for kind, (_, body) in sales_files(big_rows=10).items()}
    assert files["empty"] == b""
    assert files["header_only"].decode().strip() == ",".join(SALES_COLUMNS)
    try:
        files["bad_encoding"].decode("utf-8")
        raise AssertionError("bad_encoding decodes as UTF-8")
    except UnicodeDecodeError:
        pass
    last = files["truncated"].decode().strip().splitlines()[-1]
    assert len(last.split(",")) < len(SALES_COLUMNS)
    # The same seed gives the same bytes: the ledger recognises files by MD5 across runs.
    assert sales_files(big_rows=10) == sales_files(big_rows=10)


def test_each_generated_variant_gets_the_verdict_the_issue_asks() -> None:
    verdicts = {
        kind: validate_csv(name, body) for kind, (name, body) in sales_files(big_rows=1000).items()
    }
    valid = {"sales", "one_date", "extra_column", "unknown_keys"}
    assert {kind for kind, v in verdicts.items() if v.ok} == valid
    assert verdicts["extra_column"].extra_columns == ["payment_mode"]
    reasons = {kind: str(v.problems[0]) for kind, v in verdicts.items() if not v.ok}
    assert "column store_id" in reasons["missing_column"]
    assert "not UTF-8 at line 4" in reasons["bad_encoding"]
    assert "line 41: expected 8 fields, found 7" in reasons["truncated"]
    assert "no data rows" in reasons["header_only"]
    assert "empty file" in reasons["empty"]
