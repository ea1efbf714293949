"""ShopEase (seed 002): an OLTP sales database → bronze → silver → gold → PostgreSQL warehouse.

Fixes over the seed: incremental extraction by `updated_at` instead of a full `\\COPY` of every
table on every run; typed Delta silver instead of CSV; rejected rows land in quarantine with the
rule that rejected them instead of vanishing; real RFM scoring (the seed only had the label);
gold synced to a warehouse in one transaction per table; no hard-coded credentials.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from strata.config import Settings
from strata.db import DatabaseUrl
from strata.db.embedded import EMBEDDED, resolve_postgres
from strata.errors import ConfigError
from strata.runner import Pipeline, RunContext, Step, StepResult, model_step
from strata.runner.housekeeping import housekeeping_step
from strata.runner.pipeline import database_retry
from strata.runner.sync import sync_models
from strata.sources.database import DatabaseSource
from strata.sources.extract import TableSpec, extract_to_bronze

NAME = "shopease"
DESCRIPTION = "PostgreSQL sales OLTP → silver → gold daily, product, customer RFM → warehouse"

SOURCE_TABLES = (
    TableSpec("customers", "updated_at"),
    TableSpec("products", "updated_at"),
    TableSpec("stores", "updated_at"),
    TableSpec("inventory", "updated_at"),
    TableSpec("sales_managers", "updated_at"),
    TableSpec("sale_transactions", "updated_at"),
)
SILVER = ("customers", "products", "stores", "inventory", "sales_managers", "transactions")
GOLD = ("daily_sales_summary", "product_performance", "customer_analytics")
# What the warehouse gets by default: gold, plus the silver tables the seed's Athena queries
# read (store performance, payment and channel shares), so the warehouse answers all of them.
SYNCED = (*GOLD, "transactions", "customers", "products", "stores")


class Options(BaseModel):
    """ShopEase settings (`[profiles.<env>.pipelines.shopease]`, `STRATA_SHOPEASE__*`).

    URLs may carry passwords: put them in the environment or `.env`, not in strata.toml. They
    are never logged (every message goes through `strata.db.redact`).
    """

    model_config = ConfigDict(extra="forbid")

    source_url: str = EMBEDDED
    source_schema: str = "public"
    warehouse_url: str = EMBEDDED
    warehouse_schema: str = "shopease"
    bronze_format: Literal["parquet", "csv"] = "parquet"
    batch_rows: int = Field(250_000, ge=1_000)
    cursor_lookback_seconds: float = Field(0.0, ge=0)
    generate_if_empty: bool = True
    transactions: int = Field(1_020_500, ge=1)
    sync_to_warehouse: bool = True
    sync_tables: tuple[str, ...] = SYNCED
    connect_attempts: int = Field(3, ge=1)
    connect_interval: float = Field(2.0, ge=0)

    @field_validator("sync_tables")
    @classmethod
    def _known_tables(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(SILVER) - set(GOLD))
        if unknown:
            raise ValueError(f"unknown tables {unknown}; choose from {[*SILVER, *GOLD]}")
        return value


def source_url(ctx: RunContext, options: Options) -> DatabaseUrl:
    """The OLTP database; `embedded` is a database `shopease` on the embedded server."""
    if "source_url" not in ctx.outputs:
        url = resolve_postgres(options.source_url, ctx.settings.state_path, "shopease")
        if url.kind != "postgresql":
            raise ConfigError(f"shopease source must be PostgreSQL, got {url}")
        ctx.outputs["source_url"] = url
    url = ctx.outputs["source_url"]
    assert isinstance(url, DatabaseUrl)
    return url


def _generate(
    url: DatabaseUrl,
    options: Options,
    transactions: int,
    seed: int,
    console: Console | None,
    show_progress: bool = True,
) -> Any:
    """Fill the source database with the sample data set, with a progress bar."""
    from strata.pipelines.shopease.generate import generate

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=not show_progress) as bar:
        task = bar.add_task("generate sale_transactions", total=transactions)

        def advance(table: str, rows: int) -> None:
            if table == "sale_transactions":
                bar.update(task, completed=rows)

        return generate(
            url.url,
            transactions=transactions,
            seed=seed,
            schema=options.source_schema,
            on_progress=advance,
        )


def generate_source(
    settings: Settings,
    options: BaseModel,
    *,
    transactions: int | None = None,
    source: str | None = None,
    seed: int = 42,
    console: Console | None = None,
) -> tuple[DatabaseUrl, Any]:
    """`strata generate shopease`: (re)create the sample OLTP database."""
    assert isinstance(options, Options)
    url = resolve_postgres(source or options.source_url, settings.state_path, "shopease")
    return url, _generate(url, options, transactions or options.transactions, seed, console)


def _generate_if_empty(
    ctx: RunContext, options: Options, url: DatabaseUrl, source: DatabaseSource
) -> int:
    """On the embedded source only: create the sample database the first time."""
    if options.source_url != EMBEDDED or not options.generate_if_empty:
        return 0
    if "sale_transactions" in source.tables():
        return 0
    ctx.console.print(
        f"[dim]shopease: generating the sample source database "
        f"({options.transactions:,} transactions) in the embedded PostgreSQL[/dim]"
    )
    result = _generate(url, options, options.transactions, 42, ctx.console, ctx.show_progress)
    return sum(result.rows.values())


def extract(ctx: RunContext, options: Options) -> StepResult:
    """Every source table's changes since its checkpoint, streamed into bronze."""
    url = source_url(ctx, options)
    loads = []
    with DatabaseSource(
        url.url, schema=options.source_schema, batch_rows=options.batch_rows
    ) as src:
        generated = _generate_if_empty(ctx, options, url, src)
        with ctx.progress("extract source tables", len(SOURCE_TABLES)) as bar:
            for spec in SOURCE_TABLES:
                load = extract_to_bronze(
                    src,
                    ctx.bronze(spec.name),
                    spec,
                    fmt=options.bronze_format,
                    run_id=ctx.run_id,
                    full_refresh=ctx.full_refresh,
                    lookback_seconds=options.cursor_lookback_seconds,
                )
                loads.append(load)
                bar.advance(bar.task_ids[0])
    metrics: dict[str, Any] = {load.table: load.to_dict() for load in loads}
    if generated:
        metrics["generated_source_rows"] = generated
    return StepResult(rows_out=sum(load.rows for load in loads), metrics=metrics)


def warehouse_url(ctx: RunContext, options: Options) -> DatabaseUrl:
    return resolve_postgres(options.warehouse_url, ctx.settings.state_path, "warehouse")


def sync(ctx: RunContext, options: Options) -> StepResult:
    """Each synced table replaces its warehouse copy in one transaction (DELETE + binary COPY:
    readers see the old rows or the new ones, never half, never an empty table)."""
    if not options.sync_to_warehouse:
        return StepResult(rows_out=0, metrics={"skipped": "sync_to_warehouse = false"})
    return sync_models(
        ctx,
        warehouse_url(ctx, options),
        options.sync_tables,
        schema=options.warehouse_schema,
        mode="replace",
        batch_rows=options.batch_rows,
    )


def build(options: BaseModel) -> Pipeline:
    """The ShopEase pipeline for the given options."""
    assert isinstance(options, Options)
    connect = database_retry(options.connect_interval, options.connect_attempts)
    return Pipeline(
        name=NAME,
        description=DESCRIPTION,
        steps=[
            Step(
                "extract",
                lambda ctx: extract(ctx, options),
                retry=(connect,),
                description="changed rows of the six source tables into bronze (Parquet/CSV)",
            ),
            model_step(
                "refine",
                *SILVER,
                description="typed, cleaned, deduplicated silver; rejected rows to quarantine",
            ),
            model_step(
                "publish",
                *GOLD,
                description="gold daily_sales_summary, product_performance, customer_analytics",
            ),
            Step(
                "sync",
                lambda ctx: sync(ctx, options),
                retry=(connect,),
                description="gold tables into the warehouse schema, one transaction each",
            ),
            housekeeping_step(),
        ],
    )
