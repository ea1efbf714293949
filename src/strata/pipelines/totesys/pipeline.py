"""totesys (seed 004): the Terrific Totes OLTP database → bronze → star schema → warehouse.

Fixes over the seed: the watermark of each table is `max(last_updated)` of the rows extracted,
committed with the data in the bronze manifest (the seed used its own upload time, so a row
committed while an extract ran could be missed for good); tables are discovered at every run
(minus `_prisma_migrations`); facts are identified by (id, last_updated) so reruns never
duplicate them (the seed's fact Parquet lacked the key and always appended); dimension updates
overwrite (SCD type 1); the warehouse gets primary and foreign keys and a `sales_record_id`
surrogate; currency names come from ISO 4217 data (pycountry) instead of a hand-typed dict;
dim_date is built once, not rewritten every run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from strata.config import Settings
from strata.db import DatabaseUrl
from strata.db.embedded import EMBEDDED, resolve_postgres
from strata.errors import ConfigError
from strata.runner import Pipeline, RunContext, Step, StepResult, model_step
from strata.runner.housekeeping import housekeeping_step
from strata.runner.pipeline import database_retry
from strata.runner.store import Checkpoints
from strata.sources.database import DatabaseSource
from strata.sources.extract import TableSpec, extract_to_bronze

NAME = "totesys"
DESCRIPTION = "totesys OLTP (11 tables, incremental) → star schema → PostgreSQL warehouse"

SOURCE_TABLES = (
    "address",
    "counterparty",
    "currency",
    "department",
    "design",
    "staff",
    "payment_type",
    "transaction",
    "sales_order",
    "purchase_order",
    "payment",
)
SILVER = ("iso_currencies", *SOURCE_TABLES)
DIMENSIONS = (
    "dim_date",
    "dim_location",
    "dim_design",
    "dim_staff",
    "dim_counterparty",
    "dim_currency",
    "dim_payment_type",
    "dim_transaction",
)
FACTS = ("fact_sales_order", "fact_purchase_order", "fact_payment")
GOLD = (*DIMENSIONS, *FACTS)
# Foreign keys of the warehouse star schema: (table, columns, referenced table, columns).
FOREIGN_KEYS = (
    ("fact_sales_order", "sales_staff_id", "dim_staff", "staff_id"),
    ("fact_sales_order", "counterparty_id", "dim_counterparty", "counterparty_id"),
    ("fact_sales_order", "currency_id", "dim_currency", "currency_id"),
    ("fact_sales_order", "design_id", "dim_design", "design_id"),
    ("fact_sales_order", "agreed_delivery_location_id", "dim_location", "location_id"),
    ("fact_sales_order", "created_date", "dim_date", "date_id"),
    ("fact_sales_order", "last_updated_date", "dim_date", "date_id"),
    ("fact_sales_order", "agreed_payment_date", "dim_date", "date_id"),
    ("fact_sales_order", "agreed_delivery_date", "dim_date", "date_id"),
    ("fact_purchase_order", "counterparty_id", "dim_counterparty", "counterparty_id"),
    ("fact_purchase_order", "currency_id", "dim_currency", "currency_id"),
    ("fact_purchase_order", "agreed_delivery_location_id", "dim_location", "location_id"),
    ("fact_purchase_order", "created_date", "dim_date", "date_id"),
    ("fact_payment", "transaction_id", "dim_transaction", "transaction_id"),
    ("fact_payment", "counterparty_id", "dim_counterparty", "counterparty_id"),
    ("fact_payment", "currency_id", "dim_currency", "currency_id"),
    ("fact_payment", "payment_type_id", "dim_payment_type", "payment_type_id"),
    ("fact_payment", "created_date", "dim_date", "date_id"),
)


class Options(BaseModel):
    """totesys settings (`[profiles.<env>.pipelines.totesys]`, `STRATA_TOTESYS__*`).

    `embedded` defaults: the source is database `totesys` and the warehouse database
    `warehouse` (schema `totesys`) on the embedded PostgreSQL. The seed kept credentials in
    Secrets Manager (`Totesys-Credentials`): `source_url = "aws-sm:Totesys-Credentials#url"`.
    """

    model_config = ConfigDict(extra="forbid")

    source_url: str = EMBEDDED
    source_schema: str = "public"
    exclude_tables: tuple[str, ...] = ("_prisma_migrations",)
    cursor: str = "last_updated"
    cursor_lookback_seconds: float = Field(0.0, ge=0)
    bronze_format: str = "csv"
    warehouse_url: str = EMBEDDED
    warehouse_schema: str = "totesys"
    generate_if_empty: bool = True
    sales_orders: int = Field(10_000, ge=1)
    batch_rows: int = Field(250_000, ge=1_000)
    connect_attempts: int = Field(3, ge=1)
    connect_interval: float = Field(2.0, ge=0)


def source_url(settings: Settings, options: Options) -> DatabaseUrl:
    url = resolve_postgres(options.source_url, settings.state_path, NAME)
    if url.kind != "postgresql":
        raise ConfigError(f"totesys source must be PostgreSQL, got {url}")
    return url


def warehouse_url(settings: Settings, options: Options) -> DatabaseUrl:
    return resolve_postgres(options.warehouse_url, settings.state_path, "warehouse")


def generate_source(
    settings: Settings,
    options: BaseModel,
    *,
    transactions: int | None = None,
    source: str | None = None,
    seed: int = 42,
    console: Console | None = None,
) -> tuple[DatabaseUrl, Any]:
    """`strata generate totesys`: (re)create the OLTP schema with sample data
    (`--transactions` = sales orders, default 10,000)."""
    from strata.pipelines.totesys.generate import generate

    assert isinstance(options, Options)
    url = resolve_postgres(source or options.source_url, settings.state_path, NAME)
    sales_orders = transactions or options.sales_orders
    return url, generate(
        url.url, sales_orders=sales_orders, seed=seed, schema=options.source_schema
    )


def simulate_source(
    settings: Settings, options: BaseModel, *, changes: int, source: str | None = None
) -> tuple[DatabaseUrl, Any]:
    """`strata simulate totesys --changes N`: inserts and updates with newer last_updated."""
    from strata.pipelines.totesys.generate import simulate

    assert isinstance(options, Options)
    url = resolve_postgres(source or options.source_url, settings.state_path, NAME)
    return url, simulate(url.url, changes=changes, schema=options.source_schema)


def _generate_if_empty(ctx: RunContext, options: Options, source: DatabaseSource) -> bool:
    if options.source_url != EMBEDDED or not options.generate_if_empty:
        return False
    if "sales_order" in source.tables():
        return False
    ctx.console.print(
        f"[dim]totesys: generating the sample OLTP database ({options.sales_orders:,} sales "
        "orders) in the embedded PostgreSQL[/dim]"
    )
    generate_source(ctx.settings, options)
    return True


def seed_key(table: str, moment: datetime) -> str:
    """The seed's object key of an extract, `ingestion/YYYY/MM/DD/<table>/<HHMMSS>`: each
    bronze load lays its files out this way (beside its manifest)."""
    return f"ingestion/{moment:%Y/%m/%d}/{table}/{moment:%H%M%S}"


def ingest(ctx: RunContext, options: Options) -> StepResult:
    """Every source table (discovered now) changed since its watermark, into bronze; a table
    with no change writes nothing."""
    url = source_url(ctx.settings, options)
    started = datetime.now(UTC)
    metrics: dict[str, Any] = {}
    with DatabaseSource(
        url.url, schema=options.source_schema, batch_rows=options.batch_rows
    ) as src:
        if _generate_if_empty(ctx, options, src):
            metrics["generated_source"] = True
        tables = [t for t in src.tables() if t not in options.exclude_tables]
        unknown = sorted(set(SOURCE_TABLES) - set(tables))
        if unknown:
            raise ConfigError(f"totesys source {url} lacks tables {unknown}")
        with ctx.progress("ingest source tables", len(tables)) as bar:
            for table in tables:
                load = extract_to_bronze(
                    src,
                    ctx.bronze(table),
                    TableSpec(table, options.cursor),
                    fmt=options.bronze_format,
                    run_id=ctx.run_id,
                    full_refresh=ctx.full_refresh,
                    lookback_seconds=options.cursor_lookback_seconds,
                    file_name=seed_key(table, started),
                )
                metrics[table] = load.to_dict()
                bar.advance(bar.task_ids[0])
    changed = sorted(t for t, m in metrics.items() if isinstance(m, dict) and m.get("rows"))
    ctx.outputs["changed_tables"] = changed
    metrics["changed_tables"] = changed
    rows = sum(m["rows"] for m in metrics.values() if isinstance(m, dict) and "rows" in m)
    return StepResult(rows_out=rows, metrics=metrics)


def reference(ctx: RunContext, options: Options) -> StepResult:
    """The ISO 4217 currency names (pycountry's maintained data) into bronze, for
    dim_currency; an unchanged list reuses the stored load."""
    import pycountry

    rows = sorted((c.alpha_3, c.name) for c in pycountry.currencies)
    data = pa.table(
        {
            "currency_code": pa.array([code for code, _ in rows], pa.string()),
            "currency_name": pa.array([name for _, name in rows], pa.string()),
        }
    )
    manifest = ctx.bronze("iso_currencies").write_batches(
        "iso_4217",
        data.to_reader(),
        run_id=ctx.run_id,
        source_position={"source": f"pycountry {pycountry.__version__}"},
    )
    reused = manifest is not None and manifest.reused
    return StepResult(rows_out=0 if reused else len(rows), metrics={"currencies": len(rows)})


def load(ctx: RunContext, options: Options) -> StepResult:
    """Dimensions, then facts, into the warehouse star schema by merge on their keys; facts
    only the versions newer than the last load. Primary keys, foreign keys and the
    sales_record_id surrogate are created once."""
    from strata.pipelines.totesys.warehouse import load_star

    url = warehouse_url(ctx.settings, options)
    return load_star(ctx, url, options.warehouse_schema, Checkpoints(ctx.settings.state_path))


def build(options: BaseModel) -> Pipeline:
    """The totesys pipeline for the given options."""
    assert isinstance(options, Options)
    connect = database_retry(options.connect_interval, options.connect_attempts)
    return Pipeline(
        name=NAME,
        description=DESCRIPTION,
        steps=[
            Step(
                "ingest",
                lambda ctx: ingest(ctx, options),
                retry=(connect,),
                description="changed rows of every source table (watermark max(last_updated))",
            ),
            Step(
                "reference",
                lambda ctx: reference(ctx, options),
                description="ISO 4217 currency names for dim_currency",
            ),
            model_step("refine", *SILVER, description="silver tables: latest rows, fact versions"),
            model_step("publish", *GOLD, description="star schema: dimensions and facts"),
            Step(
                "load",
                lambda ctx: load(ctx, options),
                retry=(connect,),
                description="warehouse star schema by merge, keys and foreign keys",
            ),
            housekeeping_step(),
        ],
    )
