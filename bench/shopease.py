"""ShopEase side by side: Strata's pipeline against the seed's approach, dlt and pandas.to_sql.

    .venv/bin/python bench/shopease.py [--transactions 1020500] [--quick] [--skip-10m]

Needs a local PostgreSQL (default postgresql://postgres@127.0.0.1:5432/, trust auth). The
script creates the databases `bench_shopease` and `bench_shopease_10m` if they are missing and
(re)generates the six ShopEase source tables in them (generation is never timed). Every measured
side runs in a fresh Python process of its own (`--side NAME`, started by the main run), so each
wall time and peak RSS (`ru_maxrss` of that process) belongs to one side only. Four comparisons:

1. End to end at N transactions (default 1,020,500):
   * strata: `run_pipeline("shopease")` into a fresh lake: extract to bronze Parquet, silver
     Delta (cleaning, dedup, quarantine), gold with RFM, sync to PostgreSQL of the gold tables
     and the silver tables the seed's Athena queries read (transactions, customers, products,
     stores).
   * seed: the seed's DAG (seed-specs section 3) in one Python process: `COPY … TO STDOUT WITH
     CSV HEADER` of the six tables (psycopg2 `copy_expert`, the seed's psql `\\COPY`) to CSV;
     pandas `read_csv`, the seed's silver cleaning written as CSV; the three gold aggregates with
     pandas groupby, `to_parquet`; then `DataFrame.to_sql(chunksize=10_000)` of the same tables
     strata syncs into a PostgreSQL schema (SQLAlchemy 2 + psycopg2).
     `to_sql` runs with pandas' default method (executemany, which SQLAlchemy 2 turns into
     batched multi-row INSERTs): here it is ~7x faster than `method="multi"`, so it is the fair
     choice; `--seed-to-sql multi` runs the seed with `method="multi"` instead. An information
     row compares the two without any warehouse load (strata without its sync step, the seed
     without to_sql): most of the seed's time is to_sql.
2. Extract only: `extract_to_bronze` of the six tables (what the pipeline's extract step runs)
   against dlt's `sql_database` source (`backend="pyarrow"`) into a local filesystem
   destination as Parquet, offline (no telemetry, working dir in a temp folder).
3. Warehouse load of the silver transactions (read from strata's silver Delta table): a
   `strata.sinks` load in mode replace (new table) and then merge (every key already there,
   so every row is an update) against pandas `to_sql(chunksize=10_000)`, timed with both the
   default method and `method="multi"`; the ratio is taken against the faster of the two.
4. Scale: strata end to end at 10,000,000 transactions against its run at N.

The last line on stdout is one JSON object with the figures and which targets are met.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common
from _common import emit_json, peak_rss_mb, ratio_of, timer, wide_console
from rich.table import Table

from strata.pipelines.shopease.generate import SOURCE_TABLES
from strata.pipelines.shopease.pipeline import SYNCED

SERVER = "postgresql://postgres@127.0.0.1:5432/"
DATABASE, SCALE_DATABASE = "bench_shopease", "bench_shopease_10m"
TRANSACTIONS, SCALE_TRANSACTIONS = 1_020_500, 10_000_000
QUICK_TRANSACTIONS, QUICK_SCALE_TRANSACTIONS = 100_000, 1_000_000
SILVER_TRANSACTIONS = "silver/shopease/transactions"
TO_SQL_CHUNK = 10_000
TO_SQL_METHODS = {"executemany": None, "multi": "multi"}  # label -> pandas `method`

# Warehouse schemas, each dropped and recreated by the side that writes it.
STRATA_WH, SEED_WH = "bench_wh", "bench_seed_wh"
LOAD_STRATA, LOAD_PANDAS = "bench_load_strata", "bench_load_pandas"

TARGET_SPEEDUP = 10.0  # end to end, seed / strata
TARGET_MEMORY = 1 / 3  # end to end peak RSS, strata / seed
TARGET_EXTRACT = 2.0  # dlt / strata
TARGET_LOAD_ROWS_S = 1_000_000.0
TARGET_LOAD_RATIO = 20.0  # to_sql seconds / strata replace seconds
TARGET_SCALE_TIME = 11.0
TARGET_SCALE_MEMORY = 1.5

Side = Callable[[argparse.Namespace], dict[str, Any]]


# --- helpers shared by the sides ------------------------------------------------------------


def _process_peak_mb() -> float:
    """Peak RSS of this process (and of any process it waited for), in MiB."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak_rss_mb(), children / 1024)


def _reset_schema(url: str, schema: str, create: bool = False) -> None:
    """Drop `schema` (one of this benchmark's own) so a side starts from an empty warehouse."""
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if create:
            cur.execute(f'CREATE SCHEMA "{schema}"')
    conn.close()


def _empty_config(workdir: Path) -> Path:
    config = workdir / "strata.toml"
    config.touch()
    return config


# --- generation (untimed) -------------------------------------------------------------------


def side_generate(args: argparse.Namespace) -> dict[str, Any]:
    """Create the database if missing, then (re)create the six source tables."""
    import psycopg2

    from strata.pipelines.shopease.generate import generate

    database = args.url.rsplit("/", 1)[1]
    conn = psycopg2.connect(SERVER + "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{database}"')
    conn.close()
    result = generate(args.url, transactions=args.transactions)
    return {"seconds": result.seconds, "rows": result.rows}


# --- strata ---------------------------------------------------------------------------------


def side_strata(args: argparse.Namespace) -> dict[str, Any]:
    """One full `run_pipeline("shopease")` into a fresh lake, gold synced to `args.schema`."""
    from strata.config import load_settings
    from strata.session import run_pipeline

    workdir = Path(args.workdir)
    if args.warehouse:
        _reset_schema(args.url, args.schema)
    options = {
        "source_url": args.url,
        "warehouse_url": args.url,
        "warehouse_schema": args.schema,
        "sync_to_warehouse": args.warehouse,
    }
    settings = load_settings(
        profile="dev",
        config_file=_empty_config(workdir),
        dotenv=None,
        lake=str(workdir / "lake"),
        state_dir=str(workdir / "state"),
        pipelines={"shopease": options},
    )
    with timer() as t:
        record = run_pipeline("shopease", settings=settings, show_progress=False)
    peak = _process_peak_mb()
    if record.status != "succeeded":
        raise RuntimeError(f"strata run {record.run_id} {record.status}: {record.error}")
    metrics = record.metrics
    return {
        "seconds": t.seconds,
        "peak_rss_mb": peak,
        "bronze_rows": metrics["extract"]["rows_out"],
        "silver_transactions": metrics["refine"]["silver.shopease.transactions"]["rows_out"],
        "gold_rows": metrics["publish"]["rows_out"],
        "warehouse_rows": metrics["sync"]["rows_out"],
    }


def side_strata_extract(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline's extract step on its own: `extract_to_bronze` of the six tables."""
    from strata.lake.bronze import Bronze
    from strata.lake.storage import Lake
    from strata.pipelines.shopease.pipeline import SOURCE_TABLES as SPECS
    from strata.pipelines.shopease.pipeline import Options
    from strata.runner import new_run_id
    from strata.sources.database import DatabaseSource
    from strata.sources.extract import extract_to_bronze

    lake, run_id = Lake(str(Path(args.workdir) / "lake")), new_run_id()
    with (
        timer() as t,
        DatabaseSource(args.url, batch_rows=Options().batch_rows) as source,
    ):
        loads = [
            extract_to_bronze(
                source, Bronze(lake, "shopease", spec.name), spec, fmt="parquet", run_id=run_id
            )
            for spec in SPECS
        ]
    return {
        "seconds": t.seconds,
        "peak_rss_mb": _process_peak_mb(),
        "rows": sum(load.rows for load in loads),
    }


def _silver_transactions(lake_dir: str) -> Any:
    """strata's silver transactions as one Arrow table (read before any timing starts)."""
    from strata.lake.delta import DeltaTableIO
    from strata.lake.storage import Lake

    return DeltaTableIO(Lake(lake_dir), SILVER_TRANSACTIONS).read()


def side_strata_load(args: argparse.Namespace) -> dict[str, Any]:
    """`Warehouse.load` of the silver transactions: replace (new table), then merge."""
    from strata.sinks import open_warehouse

    table = _silver_transactions(args.lake)
    _reset_schema(args.url, args.schema)
    with open_warehouse(args.url, schema=args.schema) as warehouse:
        with timer() as replace:
            replaced = warehouse.load("transactions", table, mode="replace", key=["transaction_id"])
        with timer() as merge:
            merged = warehouse.load("transactions", table, mode="merge", key=["transaction_id"])
    return {
        "rows": table.num_rows,
        "replace_s": replace.seconds,
        "merge_s": merge.seconds,
        "replace_inserted": replaced.inserted,
        "merge_updated": merged.updated,
        "peak_rss_mb": _process_peak_mb(),
    }


# --- the seed's approach --------------------------------------------------------------------


def _seed_bronze(url: str, bronze: Path) -> None:
    """The seed's bronze task: `\\COPY t TO 'bronze/…/t.csv' CSV HEADER` for each table."""
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for table in SOURCE_TABLES:
            folder = bronze / ("transactions" if table == "sale_transactions" else table)
            folder.mkdir(parents=True)
            with open(folder / f"{table}.csv", "w", newline="") as out:
                cur.copy_expert(f"COPY {table} TO STDOUT WITH CSV HEADER", out)
    conn.close()


def _seed_silver(root: Path) -> dict[str, Any]:
    """The seed's silver SQL in pandas; each table written as CSV, as in the seed."""
    import pandas as pd

    bronze, silver = root / "bronze", root / "silver"
    customers = pd.read_csv(bronze / "customers" / "customers.csv")
    customers["customer_name"] = customers["customer_name"].str.upper().str.strip()
    customers["email"] = customers["email"].str.strip().str.lower()
    customers = (
        customers.drop_duplicates()
        .dropna(subset=["customer_name", "email"])
        .sort_values("customer_id")
    )

    products = pd.read_csv(bronze / "products" / "products.csv")
    products["product_name"] = products["product_name"].str.strip()
    products["description"] = products["description"].str.strip()
    products["category"] = products["category"].str.strip().str.upper()
    products["price"] = products["price"].round(2)
    products = products[products["product_name"].notna() & (products["price"] > 0)]

    tx = pd.read_csv(bronze / "transactions" / "sale_transactions.csv", parse_dates=["created_at"])
    tx = tx[(tx["quantity"] > 0) & (tx["unit_price"] > 0)].copy()
    tx["unit_price"] = tx["unit_price"].round(2)
    tx["total_amount"] = (tx["quantity"] * tx["unit_price"]).round(2)
    created = tx["created_at"].dt
    tx["transaction_date"] = created.date
    tx["year"], tx["month"], tx["day"] = created.year, created.month, created.day
    tx = tx[
        [
            "transaction_id",
            "store_id",
            "customer_id",
            "product_id",
            "quantity",
            "unit_price",
            "total_amount",
            "payment_method",
            "sales_channel",
            "transaction_date",
            "year",
            "month",
            "day",
            "created_at",
            "updated_at",
        ]
    ].sort_values("created_at", ascending=False)

    frames = {"customers": customers, "products": products, "transactions": tx}
    for name, frame in frames.items():
        (silver / name).mkdir(parents=True)
        frame.to_csv(silver / name / f"{name}_cleaned.csv", index=False)
    return frames


def _seed_gold(silver: dict[str, Any], gold: Path) -> dict[str, Any]:
    """The seed's three gold aggregates with pandas groupby, one Parquet file each."""
    tx = silver["transactions"]
    daily = (
        tx.groupby("transaction_date")
        .agg(
            total_transactions=("transaction_id", "count"),
            total_items_sold=("quantity", "sum"),
            total_revenue=("total_amount", "sum"),
            avg_transaction_value=("total_amount", "mean"),
            unique_customers=("customer_id", "nunique"),
            unique_products=("product_id", "nunique"),
        )
        .round({"total_revenue": 2, "avg_transaction_value": 2})
        .reset_index()
        .rename(columns={"transaction_date": "sales_date"})
        .sort_values("sales_date", ascending=False)
    )
    sales = tx[["transaction_id", "customer_id", "product_id", "quantity", "total_amount"]]
    products = silver["products"][["product_id", "product_name", "category"]]
    product = (
        products.merge(sales, on="product_id")
        .groupby(["product_id", "product_name", "category"])
        .agg(
            total_orders=("transaction_id", "count"),
            total_quantity_sold=("quantity", "sum"),
            total_revenue=("total_amount", "sum"),
            avg_order_value=("total_amount", "mean"),
            avg_quantity_per_order=("quantity", "mean"),
        )
        .round({"total_revenue": 2, "avg_order_value": 2, "avg_quantity_per_order": 2})
        .reset_index()
        .sort_values("total_revenue", ascending=False)
    )
    customers = silver["customers"][["customer_id", "customer_name", "city", "state"]]
    purchases = tx[["customer_id", "quantity", "total_amount", "transaction_date"]]
    customer = (
        customers.merge(purchases, on="customer_id")
        .groupby(["customer_id", "customer_name", "city", "state"])
        .agg(
            total_purchases=("quantity", "size"),
            total_items_bought=("quantity", "sum"),
            total_spent=("total_amount", "sum"),
            avg_order_value=("total_amount", "mean"),
            first_purchase_date=("transaction_date", "min"),
            last_purchase_date=("transaction_date", "max"),
        )
        .round({"total_spent": 2, "avg_order_value": 2})
        .reset_index()
        .sort_values("total_spent", ascending=False)
    )
    frames = {
        "daily_sales_summary": daily,
        "product_performance": product,
        "customer_analytics": customer,
    }
    for name, frame in frames.items():
        (gold / name).mkdir(parents=True)
        frame.to_parquet(gold / name / "data.parquet", index=False)
    return frames


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _to_sql(engine: Any, schema: str, name: str, frame: Any, method: str) -> None:
    """How a pandas user fills a warehouse table: `DataFrame.to_sql` through SQLAlchemy."""
    frame.to_sql(
        name,
        engine,
        schema=schema,
        if_exists="replace",
        index=False,
        method=TO_SQL_METHODS[method],
        chunksize=TO_SQL_CHUNK,
    )


def side_seed(args: argparse.Namespace) -> dict[str, Any]:
    """The seed's DAG in one process; phases timed separately, the whole timed end to end."""
    import pandas  # noqa: F401  (imported before the clock starts, like strata's modules)
    import psycopg2  # noqa: F401
    import sqlalchemy

    root = Path(args.workdir) / "seed"
    if args.warehouse:
        _reset_schema(args.url, args.schema)
    phases: dict[str, float] = {}
    with timer() as total:
        with timer() as t:
            _seed_bronze(args.url, root / "bronze")
        phases["bronze_s"] = t.seconds
        with timer() as t:
            silver = _seed_silver(root)
        phases["silver_s"] = t.seconds
        with timer() as t:
            gold = _seed_gold(silver, root / "gold")
        phases["gold_s"] = t.seconds
        if args.warehouse:
            engine = sqlalchemy.create_engine(_sqlalchemy_url(args.url))
            # The same tables Strata's sync step loads: gold plus the silver tables the
            # seed's Athena queries read (stores straight from bronze: the seed had no silver).
            import pandas as pd

            frames = gold | silver
            frames["stores"] = pd.read_csv(root / "bronze" / "stores" / "stores.csv")
            with timer() as t:
                with engine.begin() as conn:
                    conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{args.schema}"'))
                for name in SYNCED:
                    _to_sql(engine, args.schema, name, frames[name], args.seed_to_sql)
            phases["warehouse_s"] = t.seconds
            engine.dispose()
    return {
        "seconds": total.seconds,
        "peak_rss_mb": _process_peak_mb(),
        "silver_transactions": len(silver["transactions"]),
        "gold_rows": sum(len(frame) for frame in gold.values()),
        **phases,
    }


# --- the alternatives for extract and load --------------------------------------------------


def side_dlt_extract(args: argparse.Namespace) -> dict[str, Any]:
    """dlt `sql_database` (pyarrow backend) → filesystem destination, Parquet, offline."""
    workdir = Path(args.workdir)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt-data")
    import dlt
    from dlt.sources.sql_database import sql_database

    with timer() as t:
        source = sql_database(
            credentials=_sqlalchemy_url(args.url),
            schema="public",
            table_names=list(SOURCE_TABLES),
            backend="pyarrow",
        )
        pipeline = dlt.pipeline(
            pipeline_name="shopease_bench",
            destination=dlt.destinations.filesystem(bucket_url=(workdir / "out").as_uri()),
            dataset_name="shopease",
            pipelines_dir=str(workdir / "pipelines"),
        )
        pipeline.run(source, loader_file_format="parquet")
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {
        "seconds": t.seconds,
        "peak_rss_mb": _process_peak_mb(),
        "rows": sum(counts.get(table, 0) for table in SOURCE_TABLES),
    }


def side_pandas_load(args: argparse.Namespace) -> dict[str, Any]:
    """pandas `to_sql(chunksize=10_000)` of the same silver transactions, with each method.

    Decimal columns become float64 first (what the seed's CSV silver holds, and much cheaper
    for the driver than Python `Decimal` objects); that conversion is not timed.
    """
    import pyarrow as pa
    import sqlalchemy

    table = _silver_transactions(args.lake)
    floats = [
        table.schema.field(i).with_type(pa.float64())
        if pa.types.is_decimal(table.schema.field(i).type)
        else table.schema.field(i)
        for i in range(table.num_columns)
    ]
    frame = table.cast(pa.schema(floats)).to_pandas()
    _reset_schema(args.url, args.schema, create=True)
    engine = sqlalchemy.create_engine(_sqlalchemy_url(args.url))
    seconds = {}
    for method in TO_SQL_METHODS:
        with timer() as t:
            _to_sql(engine, args.schema, "transactions", frame, method)
        seconds[method] = t.seconds
    engine.dispose()
    return {"rows": len(frame), "seconds": seconds, "peak_rss_mb": _process_peak_mb()}


SIDES: dict[str, Side] = {
    "generate": side_generate,
    "strata": side_strata,
    "seed": side_seed,
    "strata-extract": side_strata_extract,
    "dlt-extract": side_dlt_extract,
    "strata-load": side_strata_load,
    "pandas-load": side_pandas_load,
}


# --- the main run: every side in a process of its own ---------------------------------------


def run_side(side: str, workdir: Path, **options: Any) -> dict[str, Any]:
    """One side in a fresh interpreter (`_common.run_side`); a failed side stops the bench."""
    env = {"RUNTIME__DLTHUB_TELEMETRY": "false"}
    result = _common.run_side(__file__, side, workdir, env=env, **options)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


@dataclass
class Row:
    """One comparison: both figures as shown, the ratio, its target and whether it is met."""

    what: str
    strata: str
    other: str
    ratio: float | None
    target: str
    met: bool | None

    def cells(self) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        met = "-" if self.met is None else ("[green]yes[/green]" if self.met else "[red]no[/red]")
        return [self.what, self.strata, self.other, ratio, self.target, met]


def _measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Run every side; return the raw results by name."""
    url, scale_url = SERVER + DATABASE, SERVER + SCALE_DATABASE
    wh = {"warehouse": args.warehouse}
    out: dict[str, Any] = {}
    out["generate"] = run_side(
        "generate", root / "generate", url=url, transactions=args.transactions
    )
    out["strata"] = run_side("strata", root / "strata", url=url, schema=STRATA_WH, **wh)
    out["seed"] = run_side(
        "seed", root / "seed", url=url, schema=SEED_WH, seed_to_sql=args.seed_to_sql, **wh
    )
    if args.warehouse:
        out["strata-lake"] = run_side(
            "strata", root / "strata-lake", url=url, schema=STRATA_WH, warehouse=False
        )
    out["strata-extract"] = run_side("strata-extract", root / "strata-extract", url=url)
    out["dlt-extract"] = run_side("dlt-extract", root / "dlt-extract", url=url)
    if args.warehouse:
        lake = str(root / "strata" / "lake")
        out["strata-load"] = run_side(
            "strata-load", root / "strata-load", url=url, schema=LOAD_STRATA, lake=lake
        )
        out["pandas-load"] = run_side(
            "pandas-load", root / "pandas-load", url=url, schema=LOAD_PANDAS, lake=lake
        )
    if not args.skip_10m:
        out["generate-scale"] = run_side(
            "generate", root / "generate-scale", url=scale_url, transactions=args.scale
        )
        out["strata-scale"] = run_side(
            "strata", root / "strata-scale", url=scale_url, schema=STRATA_WH, **wh
        )
    return out


def report(args: argparse.Namespace, out: dict[str, Any]) -> dict[str, Any]:
    """Print the comparison table; return the JSON payload."""
    strata, seed = out["strata"], out["seed"]
    n = args.transactions
    rows: list[Row] = []
    met: dict[str, bool | None] = {}

    speedup = ratio_of(seed["seconds"], strata["seconds"])
    met["end_to_end_time"] = speedup >= TARGET_SPEEDUP
    rows.append(
        Row(
            f"end to end, {n:,} transactions (wall time; seed to_sql {args.seed_to_sql})",
            f"{strata['seconds']:.2f} s",
            f"{seed['seconds']:.2f} s (seed approach)",
            speedup,
            f">= {TARGET_SPEEDUP:g}x faster",
            met["end_to_end_time"],
        )
    )
    if args.warehouse:
        # Both sides fill the warehouse with the same tables. Without the warehouse (lake
        # only: Strata's pipeline without its sync step, the seed without its to_sql) the gap
        # is much smaller: most of the seed's time is to_sql.
        lake_only = out["strata-lake"]
        without = seed["seconds"] - seed["warehouse_s"]
        rows.append(
            Row(
                "  lake only (no warehouse load on either side)",
                f"{lake_only['seconds']:.2f} s",
                f"{without:.2f} s",
                ratio_of(without, lake_only["seconds"]),
                "(information)",
                None,
            )
        )
    memory = ratio_of(strata["peak_rss_mb"], seed["peak_rss_mb"])
    met["end_to_end_memory"] = memory <= TARGET_MEMORY
    rows.append(
        Row(
            "end to end, peak RSS (strata / seed)",
            f"{strata['peak_rss_mb']:,.0f} MiB",
            f"{seed['peak_rss_mb']:,.0f} MiB",
            memory,
            f"<= {TARGET_MEMORY:.2f}x",
            met["end_to_end_memory"],
        )
    )

    extract, dlt = out["strata-extract"], out["dlt-extract"]
    extract_ratio = ratio_of(dlt["seconds"], extract["seconds"])
    met["extract"] = extract_ratio >= TARGET_EXTRACT
    rows.append(
        Row(
            f"extract 6 tables to Parquet ({extract['rows']:,} rows)",
            f"{extract['seconds']:.2f} s",
            f"{dlt['seconds']:.2f} s (dlt, {dlt['rows']:,} rows)",
            extract_ratio,
            f">= {TARGET_EXTRACT:g}x faster",
            met["extract"],
        )
    )

    payload_load: dict[str, Any] = {}
    if args.warehouse:
        load, pandas_load = out["strata-load"], out["pandas-load"]
        replace_rps = load["rows"] / load["replace_s"]
        merge_rps = load["rows"] / load["merge_s"]
        to_sql = pandas_load["seconds"]
        best = min(to_sql, key=to_sql.get)
        load_ratio = ratio_of(to_sql[best], load["replace_s"])
        met["load_rows_per_s"] = replace_rps >= TARGET_LOAD_ROWS_S
        met["load_merge_rows_per_s"] = merge_rps >= TARGET_LOAD_ROWS_S
        met["load_ratio"] = load_ratio >= TARGET_LOAD_RATIO
        rows += [
            Row(
                f"warehouse load, {load['rows']:,} silver rows: replace",
                f"{replace_rps:,.0f} rows/s ({load['replace_s']:.2f} s)",
                "-",
                None,
                f">= {TARGET_LOAD_ROWS_S:,.0f} rows/s",
                met["load_rows_per_s"],
            ),
            Row(
                "  merge (upsert, every key present)",
                f"{merge_rps:,.0f} rows/s ({load['merge_s']:.2f} s)",
                "-",
                None,
                f">= {TARGET_LOAD_ROWS_S:,.0f} rows/s",
                met["load_merge_rows_per_s"],
            ),
        ]
        for method, seconds in sorted(to_sql.items(), key=lambda item: item[1]):
            headline = method == best
            rows.append(
                Row(
                    f"  replace vs pandas to_sql({method}, chunksize {TO_SQL_CHUNK:,})",
                    f"{load['replace_s']:.2f} s",
                    f"{seconds:.2f} s ({pandas_load['rows'] / seconds:,.0f} rows/s)",
                    ratio_of(seconds, load["replace_s"]),
                    f">= {TARGET_LOAD_RATIO:g}x faster" if headline else "(information)",
                    met["load_ratio"] if headline else None,
                )
            )
        payload_load = {
            "load_rows_per_s": round(replace_rps),
            "load_merge_rows_per_s": round(merge_rps),
            "load_ratio": round(load_ratio, 2),
            "load_ratio_method": best,
            "to_sql_rows_per_s": {m: round(pandas_load["rows"] / v) for m, v in to_sql.items()},
        }

    scale_payload: dict[str, Any] = {}
    if "strata-scale" in out:
        big = out["strata-scale"]
        time_ratio = ratio_of(big["seconds"], strata["seconds"])
        memory_ratio = ratio_of(big["peak_rss_mb"], strata["peak_rss_mb"])
        met["scale_time"] = time_ratio <= TARGET_SCALE_TIME
        met["scale_memory"] = memory_ratio <= TARGET_SCALE_MEMORY
        label = f"strata {args.scale:,} vs {n:,} transactions"
        rows += [
            Row(
                f"{label}: time",
                f"{big['seconds']:.2f} s",
                f"{strata['seconds']:.2f} s",
                time_ratio,
                f"<= {TARGET_SCALE_TIME:g}x",
                met["scale_time"],
            ),
            Row(
                f"{label}: peak RSS",
                f"{big['peak_rss_mb']:,.0f} MiB",
                f"{strata['peak_rss_mb']:,.0f} MiB",
                memory_ratio,
                f"<= {TARGET_SCALE_MEMORY:g}x",
                met["scale_memory"],
            ),
        ]
        scale_payload = {
            "scale_transactions": args.scale,
            "scale_seconds": round(big["seconds"], 3),
            "scale_peak_rss_mb": round(big["peak_rss_mb"], 1),
            "scale_time_ratio": round(time_ratio, 2),
            "scale_memory_ratio": round(memory_ratio, 2),
        }

    table = Table(title="ShopEase: strata vs the seed's approach, dlt and pandas.to_sql")
    for column in ("comparison", "strata", "alternative"):
        table.add_column(column)
    for column in ("ratio", "target", "met"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row.cells())
    table.caption = _caption(args, out)
    wide_console(140).print(table)

    return {
        "bench": "shopease",
        "transactions": n,
        "warehouse": args.warehouse,
        "strata_s": round(strata["seconds"], 3),
        "seed_s": round(seed["seconds"], 3),
        "seed_to_sql": args.seed_to_sql,
        "seed_phases_s": {k: round(v, 3) for k, v in seed.items() if k.endswith("_s")},
        "strata_peak_rss_mb": round(strata["peak_rss_mb"], 1),
        "seed_peak_rss_mb": round(seed["peak_rss_mb"], 1),
        "ratio": round(speedup, 2),
        "memory_ratio": round(memory, 3),
        "strata_extract_s": round(extract["seconds"], 3),
        "dlt_extract_s": round(dlt["seconds"], 3),
        "extract_ratio": round(extract_ratio, 2),
        "load_rows_per_s": None,
        "load_ratio": None,
        "scale_time_ratio": None,
        "scale_memory_ratio": None,
        **payload_load,
        **scale_payload,
        "targets_met": met,
    }


def _caption(args: argparse.Namespace, out: dict[str, Any]) -> str:
    strata, seed = out["strata"], out["seed"]
    phases = ", ".join(
        f"{k.removesuffix('_s')} {v:.1f} s" for k, v in seed.items() if k.endswith("_s")
    )
    return (
        f"each side in its own process; peak RSS = ru_maxrss of that process. "
        f"silver transactions: strata {strata['silver_transactions']:,}, "
        f"seed {seed['silver_transactions']:,}; gold rows: strata {strata['gold_rows']:,}, "
        f"seed {seed['gold_rows']:,}. seed phases: {phases}."
        + ("" if args.warehouse else " --no-warehouse: no warehouse sync or load measured.")
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--transactions",
        type=int,
        default=None,
        help=f"source size for comparisons 1-3 (default {TRANSACTIONS:,})",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=None,
        help=f"source size of the scale run (default {SCALE_TRANSACTIONS:,})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke size: {QUICK_TRANSACTIONS:,} transactions, scale run at "
        f"{QUICK_SCALE_TRANSACTIONS:,}",
    )
    parser.add_argument("--skip-10m", action="store_true", help="skip the scale run")
    parser.add_argument(
        "--seed-to-sql",
        choices=sorted(TO_SQL_METHODS),
        default="executemany",
        help="DataFrame.to_sql method of the seed end to end (default: executemany, the faster)",
    )
    parser.add_argument(
        "--warehouse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sync to / load into PostgreSQL (default on; --no-warehouse skips it on both sides)",
    )
    # Internal: one measured side, run by the main process in a fresh interpreter.
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.transactions = args.transactions or QUICK_TRANSACTIONS
        args.scale = args.scale or QUICK_SCALE_TRANSACTIONS
    args.transactions = args.transactions or TRANSACTIONS
    args.scale = args.scale or SCALE_TRANSACTIONS
    if args.transactions < 1 or args.scale < 1:
        parser.error("--transactions and --scale must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.side:
        emit_json(SIDES[args.side](args))
        return 0
    with tempfile.TemporaryDirectory(prefix="shopease-bench-") as tmp:
        out = _measure(args, Path(tmp))
    emit_json(report(args, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
