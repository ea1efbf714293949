"""totesys end to end on PostgreSQL: full run, incremental runs after simulated changes (rows
updated twice included), a crash between ingestion and processing, nothing-changed runs; the
warehouse answers the same questions as the source."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strata.config import Settings, load_settings
from strata.db import connect_postgres
from strata.pipelines.totesys.generate import generate, simulate
from strata.session import run_pipeline

STAR = "star"


def settings_for(tmp_path: Path, url: str) -> Settings:
    config = tmp_path / "strata.toml"
    config.touch()
    return load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=str(tmp_path / "lake"),
        state_dir=str(tmp_path / "state"),
        pipelines={"totesys": {"source_url": url, "warehouse_url": url, "warehouse_schema": STAR}},
    )


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with connect_postgres(url) as con, con.cursor() as cur:
        cur.execute(sql)
        return [tuple(row) for row in cur.fetchall()]


def run(settings: Settings, **kwargs: Any) -> Any:
    record = run_pipeline("totesys", settings=settings, **kwargs)
    assert record.status == "succeeded", record.error
    return record


SOURCE_QUESTION = """
SELECT a.country, to_char(s.created_at, 'YYYY-MM'), sum(s.units_sold * s.unit_price)
FROM public.sales_order s
JOIN public.counterparty c USING (counterparty_id)
JOIN public.address a ON a.address_id = c.legal_address_id
GROUP BY 1, 2 ORDER BY 1, 2
"""
WAREHOUSE_QUESTION = f"""
WITH latest AS (
    SELECT DISTINCT ON (sales_order_id) *
    FROM {STAR}.fact_sales_order
    ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC
)
SELECT c.counterparty_legal_country, to_char(f.created_date, 'YYYY-MM'),
       sum(f.units_sold * f.unit_price)
FROM latest f JOIN {STAR}.dim_counterparty c USING (counterparty_id)
GROUP BY 1, 2 ORDER BY 1, 2
"""


def assert_warehouse_matches_source(url: str) -> None:
    assert query(url, WAREHOUSE_QUESTION) == query(url, SOURCE_QUESTION)
    current = dict(query(url, "SELECT sales_order_id, units_sold FROM public.sales_order"))
    latest = dict(
        query(
            url,
            f"SELECT DISTINCT ON (sales_order_id) sales_order_id, units_sold "
            f"FROM {STAR}.fact_sales_order "
            "ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC",
        )
    )
    assert latest == current
    staff = query(url, "SELECT staff_id, email_address FROM public.staff ORDER BY 1")
    assert query(url, f"SELECT staff_id, email_address FROM {STAR}.dim_staff ORDER BY 1") == staff
    versions = query(
        url, f"SELECT count(*), count(DISTINCT sales_record_id) FROM {STAR}.fact_sales_order"
    )
    assert versions[0][0] == versions[0][1]  # one surrogate per fact row, no duplicates


def test_full_then_incremental_runs_keep_the_warehouse_equal_to_the_source(
    tmp_path: Path, pg_url: str
) -> None:
    generate(pg_url, sales_orders=2000)
    settings = settings_for(tmp_path, pg_url)
    first = run(settings)
    assert "_prisma_migrations" not in first.metrics["ingest"]
    assert_warehouse_matches_source(pg_url)
    assert query(pg_url, f"SELECT count(*) FROM {STAR}.fact_sales_order") == [(2000,)]

    changed = simulate(pg_url, changes=90, seed=5)
    assert changed.updated_twice  # some orders changed twice between runs
    second = run(settings)
    ingested = {t: m["rows"] for t, m in second.metrics["ingest"].items() if isinstance(m, dict)}
    # Exactly the rows simulate inserted or updated, per table: nothing missed, nothing extra.
    assert {t: ingested[t] for t in changed.rows} == changed.rows
    assert ingested["currency"] == 0
    assert_warehouse_matches_source(pg_url)
    # The newest version of a twice-updated order is the one in the warehouse's latest rows.
    twice = changed.updated_twice[0]
    source_row = query(
        pg_url, f"SELECT unit_price FROM public.sales_order WHERE sales_order_id = {twice}"
    )
    fact_rows = query(
        pg_url,
        f"SELECT unit_price FROM {STAR}.fact_sales_order WHERE sales_order_id = {twice} "
        "ORDER BY last_updated_date DESC, last_updated_time DESC",
    )
    assert fact_rows[0] == source_row[0] and len(fact_rows) == 2  # original + newest version

    # Nothing changed: nothing ingested, nothing loaded.
    quiet = run(settings)
    assert quiet.metrics["ingest"]["changed_tables"] == []
    assert all(m.get("skipped") for t, m in quiet.metrics["load"].items() if isinstance(m, dict))


def test_a_crash_between_ingestion_and_processing_then_a_rerun(tmp_path: Path, pg_url: str) -> None:
    generate(pg_url, sales_orders=800)
    settings = settings_for(tmp_path, pg_url)
    run(settings)
    simulate(pg_url, changes=60, seed=8)
    run(settings, steps=["ingest"])  # ... and the process dies before refine
    simulate(pg_url, changes=30, seed=9)
    run(settings)
    assert_warehouse_matches_source(pg_url)
    count = query(pg_url, f"SELECT count(*) FROM {STAR}.fact_sales_order")[0][0]
    keys = query(
        pg_url,
        f"SELECT count(*) FROM (SELECT DISTINCT sales_order_id, last_updated_date, "
        f"last_updated_time FROM {STAR}.fact_sales_order) k",
    )[0][0]
    assert count == keys  # no version twice


def test_star_schema_keys_names_and_dates(tmp_path: Path, pg_url: str) -> None:
    generate(pg_url, sales_orders=300)
    run(settings_for(tmp_path, pg_url))
    names = dict(query(pg_url, f"SELECT currency_code, currency_name FROM {STAR}.dim_currency"))
    assert names == {"GBP": "Pound Sterling", "USD": "US Dollar", "EUR": "Euro"}
    day = query(
        pg_url,
        f"SELECT day_of_week, day_name, month_name, quarter FROM {STAR}.dim_date "
        "WHERE date_id = DATE '2020-01-01'",
    )
    assert day == [(2, "Wednesday", "January", 1)]
    foreign = query(
        pg_url,
        "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        f"WHERE n.nspname = '{STAR}' AND c.contype = 'f'",
    )
    assert foreign == [(18,)]
    primary = query(
        pg_url,
        "SELECT conrelid::regclass::text FROM pg_constraint c JOIN pg_namespace n "
        f"ON n.oid = c.connamespace WHERE n.nspname = '{STAR}' AND c.contype = 'p' ORDER BY 1",
    )
    assert len(primary) == 11
    counterparty = query(
        pg_url,
        f"SELECT counterparty_legal_city IS NOT NULL FROM {STAR}.dim_counterparty LIMIT 1",
    )
    assert counterparty == [(True,)]
    staff = query(pg_url, f"SELECT count(*) FROM {STAR}.dim_staff WHERE department_name IS NULL")
    assert staff == [(0,)]
    amount = query(pg_url, f"SELECT sum(units_sold * unit_price) FROM {STAR}.fact_sales_order")
    assert isinstance(amount[0][0], Decimal | str) and Decimal(str(amount[0][0])) > 0


@pytest.mark.parametrize("table", ["sales_order", "staff"])
def test_ingested_watermark_is_the_data_not_the_clock(
    tmp_path: Path, pg_url: str, table: str
) -> None:
    from strata.lake.bronze import Bronze
    from strata.session import open_lake

    generate(pg_url, sales_orders=200)
    settings = settings_for(tmp_path, pg_url)
    run(settings)
    newest = query(pg_url, f"SELECT max(last_updated) FROM public.{table}")[0][0]
    manifest = Bronze(open_lake(settings), "totesys", table).latest()
    assert manifest is not None
    # The watermark is max(last_updated) of the data, not the time of the upload.
    assert str(newest)[:19] in manifest.source_position["upto"].replace("T", " ")
    # Laid out under the seed's key: ingestion/YYYY/MM/DD/<table>/HHMMSS.
    assert re.fullmatch(
        rf"ingestion/\d{{4}}/\d{{2}}/\d{{2}}/{table}/\d{{6}}-00000\.csv", manifest.files[0].name
    )
