"""retail_marts (seed 003) end to end on the real MariaDB: dimensions and warehouse in one MySQL
database as in the seed, sales files landed in a local folder or an S3 prefix (moto).

Both marts are compared, row for row and Decimal-exact, with the seed's rules (seed-specs §4,
steps 10-11) computed here in plain Python from the generated CSV bytes and the dimension rows
read back from MariaDB, independently of the pipeline's SQL models. Then reruns: the same files
again, a run that dies in `load` or `finish` and the one after it, a new file in a later run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest

from strata.config import Settings, load_settings
from strata.db import DatabaseUrl
from strata.errors import StorageError, WarehouseError
from strata.files import FileLedger, Landing
from strata.lake.bronze import Bronze
from strata.lake.delta import DeltaTableIO
from strata.lake.storage import Lake
from strata.pipelines.retail_marts import pipeline
from strata.pipelines.retail_marts.generate import (
    PRODUCTS,
    SALES_COLUMNS,
    SALESPEOPLE,
    generate,
    sales_files,
)
from strata.runner import RunRecord
from strata.session import run_pipeline

NAME = "retail_marts"
SEED, BIG = 42, 3000
FILES = sales_files(SEED, BIG)  # {kind: (file name, bytes)}, the bytes `generate` lands
GOOD = ("sales", "one_date", "extra_column", "unknown_keys")
# Each rejected variant and what its reason file must name.
BAD = {
    "missing_column": "required column 'store_id' is missing",
    "bad_encoding": "not UTF-8 at line 4",
    "truncated": "line 41: expected 8 fields, found 7",
    "header_only": "no data rows",
    "empty": "empty file",
}
CENT = Decimal("0.01")

CUSTOMER_MART = (
    "SELECT customer_id, full_name, address, phone_number, sales_date_month, total_sales "
    "FROM customers_data_mart ORDER BY customer_id, sales_date_month"
)
TEAM_MART = (
    "SELECT store_id, sales_person_id, full_name, sales_month, total_sales, incentive, "
    "sales_rank FROM sales_team_data_mart ORDER BY store_id, sales_person_id, sales_month"
)


# --- the independent computation ------------------------------------------------------------


@dataclass(frozen=True)
class Dimensions:
    customers: dict[int, tuple[str, str, str, str]]  # id -> first, last, address, phone
    stores: set[int]
    products: set[str]
    team: dict[int, tuple[str, str]]  # id -> first, last


def read_dimensions(fetch: Callable[[str], list[tuple[Any, ...]]]) -> Dimensions:
    customers = fetch(
        "SELECT customer_id, first_name, last_name, address, phone_number FROM customer"
    )
    return Dimensions(
        customers={int(c): (f, la, a, p) for c, f, la, a, p in customers},
        stores={int(s) for (s,) in fetch("SELECT id FROM store")},
        products={str(n) for (n,) in fetch("SELECT name FROM product")},
        team={
            int(i): (f, la)
            for i, f, la in fetch("SELECT id, first_name, last_name FROM sales_team")
        },
    )


def known_rows(bodies: list[bytes], dims: Dimensions) -> list[dict[str, Any]]:
    """The sales lines of the given CSV files whose four keys are all in the dimensions."""
    rows = []
    for body in bodies:
        for line in csv.DictReader(io.StringIO(body.decode("utf-8"))):
            row = {
                "customer_id": int(line["customer_id"]),
                "store_id": int(line["store_id"]),
                "sales_person_id": int(line["sales_person_id"]),
                "product_name": line["product_name"],
                "month": line["sales_date"][:7],
                "total_cost": Decimal(line["total_cost"]),
            }
            if (
                row["customer_id"] in dims.customers
                and row["store_id"] in dims.stores
                and row["sales_person_id"] in dims.team
                and row["product_name"] in dims.products
            ):
                rows.append(row)
    return rows


def reference_marts(
    bodies: list[bytes], dims: Dimensions
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Both marts by the seed's rules, sorted as CUSTOMER_MART and TEAM_MART are."""
    by_customer: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    by_person: dict[tuple[int, int, str], Decimal] = defaultdict(Decimal)
    for row in known_rows(bodies, dims):
        by_customer[row["customer_id"], row["month"]] += row["total_cost"]
        by_person[row["store_id"], row["sales_person_id"], row["month"]] += row["total_cost"]
    customers = []
    for (customer, month), total in sorted(by_customer.items()):
        first, last, address, phone = dims.customers[customer]
        customers.append((customer, f"{first} {last}", address, phone, month, total.quantize(CENT)))
    team = []
    for (store, person, month), total in sorted(by_person.items()):
        rivals = [t for (s, _, m), t in by_person.items() if s == store and m == month]
        rank = 1 + sum(1 for t in rivals if t > total)  # rank(): ties share, gaps follow
        incentive = (total * CENT).quantize(CENT, ROUND_HALF_UP) if rank == 1 else Decimal(0)
        first, last = dims.team[person]
        team.append(
            (store, person, f"{first} {last}", month, total.quantize(CENT), incentive, rank)
        )
    return customers, team


# --- MariaDB, settings, landing ---------------------------------------------------------------


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
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


def mysql_reference(url: str, *extra: bytes) -> tuple[list[Any], list[Any]]:
    """Both marts over the generated valid files (and `extra` ones), dimensions from MariaDB."""
    dims = read_dimensions(lambda sql: fetch(url, sql))
    return reference_marts([*(FILES[k][1] for k in GOOD), *extra], dims)


def marts(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return fetch(url, CUSTOMER_MART), fetch(url, TEAM_MART)


def staging(url: str) -> list[tuple[str, str]]:
    return fetch(url, "SELECT file_name, status FROM product_staging_table ORDER BY file_name")


@dataclass
class Setup:
    settings: Settings
    landing: Landing
    url: str

    @property
    def lake(self) -> Lake:
        return Lake(self.settings.lake)

    def run(self) -> RunRecord:
        return run_pipeline(NAME, settings=self.settings, engine="duckdb")

    def names(self, prefix: str) -> list[str]:
        return sorted(f.base_name for f in self.landing.files(prefix))

    def ledger(self) -> dict[str, str]:
        entries = FileLedger(self.settings.state_path).entries(NAME)
        return {e.name.rsplit("/", 1)[-1]: e.status for e in entries}

    def bronze_loads(self, entity: str = "sales") -> list[dict[str, Any]]:
        return [m.source_position for m in Bronze(self.lake, NAME, entity).loads()]


def make_setup(tmp_path: Path, url: str, landing_url: str, endpoint: str | None) -> Setup:
    config = tmp_path / "strata.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.touch()
    options = {
        "landing_url": landing_url,
        "dimensions_url": url,
        "warehouse_url": url,
        "generate_if_empty": False,
        "big_file_rows": BIG,
    }
    settings = load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=str(tmp_path / "lake"),
        state_dir=str(tmp_path / "state"),
        lease_ttl_seconds=5,
        s3_endpoint_url=endpoint,
        pipelines={NAME: options},
    )
    landing = Landing(landing_url, s3_endpoint_url=endpoint)
    generate(url, landing, seed=SEED, big_rows=BIG)
    return Setup(settings, landing, url)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def setup(request: pytest.FixtureRequest, tmp_path: Path, mysql_url: str) -> Setup:
    """Dimensions in a fresh MariaDB database, the sample files landed (local folder or S3)."""
    if request.param == "local":
        return make_setup(tmp_path, mysql_url, str(tmp_path / "landing"), None)
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("aws_env")
    return make_setup(tmp_path, mysql_url, f"s3://{bucket}/landing", endpoint)


@pytest.fixture
def local(tmp_path: Path, mysql_url: str) -> Setup:
    return make_setup(tmp_path, mysql_url, str(tmp_path / "landing"), None)


def md5_of(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def good_names() -> list[str]:
    return sorted(FILES[k][0] for k in GOOD)


def file_status(record: RunRecord) -> dict[str, str]:
    files = record.metrics["land"]["files"]
    return {name.rsplit("/", 1)[-1]: info["status"] for name, info in files.items()}


# --- tests ---------------------------------------------------------------------------------


def test_malformed_files_are_rejected_with_reasons_and_unknown_keys_quarantined(
    setup: Setup,
) -> None:
    """Each broken variant lands in the error prefix beside a reason naming its problem; the
    good files are processed; the four unknown-key lines are quarantined by the key."""
    record = setup.run()
    assert record.status == "partial", record.error  # rejected files are warnings
    assert len(record.metrics["warnings"]) == len(BAD)

    assert setup.names("sales_data") == []
    rejected = sorted(FILES[k][0] for k in BAD)
    assert setup.names("sales_data_error") == sorted(
        rejected + [f"{n}.reason.txt" for n in rejected]
    )
    for kind, phrase in BAD.items():
        name, body = FILES[kind]
        reason = setup.landing.read(f"sales_data_error/{name}.reason.txt").decode()
        assert name in reason and phrase in reason, (kind, reason)
        assert setup.landing.read(f"sales_data_error/{name}") == body  # moved, not altered
    assert setup.names("sales_data_processed") == good_names()
    for kind in GOOD:
        name, body = FILES[kind]
        assert setup.landing.read(f"sales_data_processed/{name}") == body

    ledger = setup.ledger()
    assert ledger == {
        **{FILES[k][0]: "processed" for k in GOOD},
        **{FILES[k][0]: "failed" for k in BAD},
    }
    assert staging(setup.url) == [(name, "I") for name in good_names()]

    quarantine = DeltaTableIO(setup.lake, f"quarantine/{NAME}/sales").read().to_pylist()
    found = sorted(
        (r["source_file"], r["source_line"], r["_quality_failed_rules"]) for r in quarantine
    )
    unknown = FILES["unknown_keys"][0]
    assert found == [
        (unknown, 2, "relationships:customer_id"),
        (unknown, 3, "relationships:store_id"),
        (unknown, 4, "relationships:sales_person_id"),
        (unknown, 5, "relationships:product_name"),
    ]
    values = {r["_quality_failed_rules"]: r for r in quarantine}
    assert values["relationships:customer_id"]["customer_id"] == 99
    assert values["relationships:store_id"]["store_id"] == 125
    assert values["relationships:sales_person_id"]["sales_person_id"] == 42
    assert values["relationships:product_name"]["product_name"] == "ghee"

    silver = DeltaTableIO(setup.lake, f"silver/{NAME}/sales").read()
    assert silver.num_rows == 500 + BIG + 1000 + 26
    extra = [v for v in silver.column("additional_column").to_pylist() if v is not None]
    assert len(extra) == 1000 and set(extra) == {"cash", "UPI"}


def test_marts_equal_an_independent_computation(local: Setup) -> None:
    """Both MySQL marts, row for row and Decimal-exact, against the seed's rules in Python
    (half-up incentive rounding is exercised: e.g. 9978.50 earns 99.79, not 99.78)."""
    record = local.run()
    assert record.status == "partial", record.error
    customers, team = mysql_reference(local.url)
    got_customers, got_team = marts(local.url)
    assert got_customers == customers
    assert got_team == team
    # Not vacuous: 20 customers over the six months, and the three stores' salespeople.
    assert len({r[0] for r in customers}) == 20
    assert {r[4] for r in customers} == {f"2023-0{m}" for m in range(3, 9)}
    assert len(team) == 9 * 6
    winners = [r for r in team if r[6] == 1]
    assert len(winners) >= 3 * 6 and all(r[5] > 0 for r in winners)
    assert all(r[5] == 0 for r in team if r[6] != 1)


def test_the_same_files_again_change_nothing(local: Setup) -> None:
    """Byte-identical files landing again are skipped by MD5 and leave the landing prefix."""
    assert local.run().status == "partial"
    before = marts(local.url)
    loads = {e: len(local.bronze_loads(e)) for e in ("sales", *pipeline.DIMENSIONS)}
    assert loads["sales"] == len(GOOD)
    for name in good_names():
        body = local.landing.read(f"sales_data_processed/{name}")
        local.landing.write(f"sales_data/{name}", body)
    assert local.names("sales_data") == good_names()

    again = local.run()
    assert again.status == "succeeded", again.error
    assert file_status(again) == {name: "skipped" for name in good_names()}
    assert {e: len(local.bronze_loads(e)) for e in loads} == loads
    assert marts(local.url) == before
    assert local.names("sales_data") == []
    assert local.names("sales_data_processed") == good_names()
    silver = DeltaTableIO(local.lake, f"silver/{NAME}/sales").read()
    assert silver.num_rows == 500 + BIG + 1000 + 26
    assert staging(local.url) == [(name, "I") for name in good_names()]


def _fail_load_halfway(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first `load` writes the customer mart, then the connection 'drops'."""
    real, calls = pipeline.sync_models, []

    def flaky(ctx: Any, url: Any, names: Any, **kwargs: Any) -> Any:
        calls.append("load")
        if len(calls) == 1:
            real(ctx, url, names[:1], **kwargs)
            raise WarehouseError(names[1], "connection lost (injected)")
        return real(ctx, url, names, **kwargs)

    monkeypatch.setattr(pipeline, "sync_models", flaky)
    return calls


def _fail_finish(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first `finish` dies before moving any file."""
    real, calls = pipeline.finish, []

    def flaky(ctx: Any, options: Any) -> Any:
        calls.append("finish")
        if len(calls) == 1:
            raise StorageError("landing area unreachable (injected)")
        return real(ctx, options)

    monkeypatch.setattr(pipeline, "finish", flaky)
    return calls


@pytest.mark.parametrize("step", ["load", "finish"])
def test_crash_then_rerun(setup: Setup, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """A run dying in `load` (after one mart) or in `finish` leaves its files active; the next
    run recovers them from bronze and ends with exact marts and one load per file."""
    calls = (_fail_load_halfway if step == "load" else _fail_finish)(monkeypatch)
    failed = setup.run()
    assert failed.status == "failed" and "injected" in str(failed.error)
    assert failed.metrics["failed_step"] == step
    assert setup.names("sales_data") == good_names()
    ledger = setup.ledger()
    assert {n: ledger[n] for n in good_names()} == {n: "active" for n in good_names()}
    assert staging(setup.url) == [(name, "A") for name in good_names()]
    tables = {t for (t,) in fetch(setup.url, "SHOW TABLES")}
    if step == "load":  # died between the two marts
        assert "customers_data_mart" in tables and "sales_team_data_mart" not in tables
        assert fetch(setup.url, CUSTOMER_MART) == mysql_reference(setup.url)[0]
    else:  # both marts were loaded before it died
        assert marts(setup.url) == mysql_reference(setup.url)

    again = setup.run()
    assert again.status == "succeeded", again.error
    assert len(calls) == 2
    files = again.metrics["land"]["files"]
    assert {n.rsplit("/", 1)[-1]: (f["status"], f.get("recovered")) for n, f in files.items()} == {
        name: ("loaded", True) for name in good_names()
    }
    assert marts(setup.url) == mysql_reference(setup.url)
    md5s = sorted(p["md5"] for p in setup.bronze_loads())
    assert md5s == sorted(md5_of(FILES[k][1]) for k in GOOD)  # one load per file
    silver = DeltaTableIO(setup.lake, f"silver/{NAME}/sales").read()
    assert silver.num_rows == 500 + BIG + 1000 + 26
    assert setup.names("sales_data") == []
    assert setup.names("sales_data_processed") == good_names()
    assert staging(setup.url) == [(name, "I") for name in good_names()]
    assert setup.ledger() == {
        **{FILES[k][0]: "processed" for k in GOOD},
        **{FILES[k][0]: "failed" for k in BAD},
    }


def september_file(rows: int = 100, seed: int = 7) -> bytes:
    """Sales for a month no earlier file has (2023-09), drawn as the seed's generator does."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SALES_COLUMNS)
    for _ in range(rows):
        store = rng.choice(sorted(SALESPEOPLE))
        product = rng.choice(sorted(PRODUCTS))
        quantity = rng.randint(1, 10)
        day = date(2023, 9, 1) + timedelta(days=rng.randrange(30))
        price = PRODUCTS[product]
        writer.writerow(
            [
                rng.randint(1, 20),
                store,
                product,
                day.isoformat(),
                rng.choice(SALESPEOPLE[store]),
                price,
                quantity,
                price * quantity,
            ]
        )
    return out.getvalue().encode()


def test_a_new_file_later_updates_the_marts_incrementally(local: Setup) -> None:
    """A September file adds its (customer, month) and (salesperson, month) rows only."""
    assert local.run().status == "partial"
    customers_before, team_before = marts(local.url)

    body = september_file()
    local.landing.write("sales_data/sales_data_2023-09.csv", body)
    record = local.run()
    assert record.status == "succeeded", record.error
    assert file_status(record) == {"sales_data_2023-09.csv": "loaded"}
    assert len(local.bronze_loads()) == len(GOOD) + 1

    new = list(csv.DictReader(io.StringIO(body.decode())))
    new_customers = {line["customer_id"] for line in new}
    new_people = {(line["store_id"], line["sales_person_id"]) for line in new}
    customers, team = marts(local.url)
    assert len(customers) == len(customers_before) + len(new_customers)
    assert len(team) == len(team_before) + len(new_people)
    assert set(customers) - set(customers_before) == {r for r in customers if r[4] == "2023-09"}
    assert set(team) - set(team_before) == {r for r in team if r[3] == "2023-09"}
    assert set(customers_before) <= set(customers) and set(team_before) <= set(team)
    assert (customers, team) == mysql_reference(local.url, body)
    assert local.names("sales_data") == []
    names = sorted([*good_names(), "sales_data_2023-09.csv"])
    assert staging(local.url) == [(name, "I") for name in names]


@pytest.fixture
def embedded(tmp_path: Path) -> Settings:
    """Default options (embedded PostgreSQL, landing folder in the state dir), small files."""
    config = tmp_path / "strata.toml"
    config.touch()
    return load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=str(tmp_path / "lake"),
        state_dir=str(tmp_path / "state"),
        pipelines={NAME: {"big_file_rows": BIG}},
    )


def test_embedded_defaults_generate_and_fill_the_postgres_warehouse(embedded: Settings) -> None:
    """No databases configured: the first run generates the sample into the embedded
    PostgreSQL and the marts reach its `warehouse` database, schema retail_marts."""
    from strata.sinks import open_warehouse

    record = run_pipeline(NAME, settings=embedded, engine="duckdb")
    assert record.status == "partial", record.error
    assert record.metrics["land"]["generated_sample"] is True
    statuses = file_status(record)
    assert sorted(n for n, s in statuses.items() if s == "loaded") == good_names()

    options = pipeline.Options(big_file_rows=BIG)
    dims_url = pipeline.dimensions_url(embedded, options)
    with open_warehouse(dims_url.url) as source:
        dims = read_dimensions(
            lambda sql: [tuple(r.values()) for r in source.read(sql).to_pylist()]
        )
    customers, team = reference_marts([FILES[k][1] for k in GOOD], dims)

    url = pipeline.warehouse_url(embedded, options)
    assert url.database == "warehouse"
    with open_warehouse(url.url, schema=NAME) as warehouse:
        assert sorted(warehouse.tables(NAME)) == ["customers_data_mart", "sales_team_data_mart"]
        got_customers = warehouse.read(CUSTOMER_MART.replace("FROM ", f"FROM {NAME}."))
        got_team = warehouse.read(TEAM_MART.replace("FROM ", f"FROM {NAME}."))
    assert [tuple(r.values()) for r in got_customers.to_pylist()] == customers
    assert [tuple(r.values()) for r in got_team.to_pylist()] == team
