"""retail_marts (seed 003): landed sales CSVs + MySQL dimensions → customer and sales-team marts.

The seed lists `sales_data/` in S3, checks each CSV's header, joins the files with the MySQL
dimensions, computes a monthly customer mart and a sales-team mart (rank per store and month,
1% incentive for the best), appends both to MySQL and moves the files to
`sales_data_processed/`, tracking them in `product_staging_table`.

Fixes over the seed: every file is validated (encoding, delimiter, row shape, types), not just
its header, and a bad file goes to `sales_data_error/` with a reason file naming file, line and
column; a file is identified by its MD5, so the same bytes are never ingested twice; rows whose
customer, store, salesperson or product is unknown go to quarantine naming the key instead of
vanishing in an inner join; the marts are computed over all sales (not one run's batch) and
merged into the warehouse by key, so reruns never duplicate; a run that dies after loading
files is finished by the next one from the bronze copy, never loaded twice; extra columns are
kept, as `additional_column` and as a JSON map.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from strata.config import Settings
from strata.db import DatabaseUrl
from strata.db.embedded import EMBEDDED, resolve_postgres
from strata.files.digests import DigestCache
from strata.files.ingest import (
    LANDED,
    FileOutcome,
    LandingPlan,
    finish_files,
    land_files,
    landed_outcomes,
)
from strata.files.landing import Landing
from strata.files.ledger import FileLedger
from strata.runner import Pipeline, RunContext, Step, StepResult, model_step
from strata.runner.housekeeping import housekeeping_step
from strata.runner.pipeline import database_retry
from strata.runner.sync import sync_models
from strata.sources.database import DatabaseSource
from strata.sources.extract import TableSpec, extract_to_bronze

NAME = "retail_marts"
DESCRIPTION = "Landed sales CSVs + MySQL dimensions → customer and sales-team monthly marts"

DIMENSIONS = ("customer", "store", "product", "sales_team")
SILVER = (*DIMENSIONS, "sales")
GOLD = ("customers_data_mart", "sales_team_data_mart")


class Options(BaseModel):
    """retail_marts settings (`[profiles.<env>.pipelines.retail_marts]`,
    `STRATA_RETAIL_MARTS__*`).

    `embedded` defaults: the landing area is a folder in the state directory, the dimensions
    and the marts live in the embedded PostgreSQL (databases `retail_marts` and `warehouse`).
    The seed's setup is MySQL for both (`mysql://user:pass@host/youtube_project`) and an S3
    prefix for the landing area (`s3://bucket`).
    """

    model_config = ConfigDict(extra="forbid")

    landing_url: str = EMBEDDED
    incoming_prefix: str = "sales_data"
    processed_prefix: str = "sales_data_processed"
    error_prefix: str = "sales_data_error"
    dimensions_url: str = EMBEDDED
    dimensions_schema: str | None = None
    warehouse_url: str = EMBEDDED
    warehouse_schema: str | None = None
    staging_table: bool = True
    generate_if_empty: bool = True
    big_file_rows: int = Field(400_000, ge=1)
    batch_rows: int = Field(250_000, ge=1_000)
    connect_attempts: int = Field(3, ge=1)
    connect_interval: float = Field(2.0, ge=0)

    def plan(self) -> LandingPlan:
        return LandingPlan(NAME, self.incoming_prefix, self.processed_prefix, self.error_prefix)


def landing(settings: Settings, options: Options) -> Landing:
    """The landing area; `embedded` is the folder `<state dir>/landing/retail_marts`."""
    digests = DigestCache(settings.state_path)
    if options.landing_url != EMBEDDED:
        return Landing(options.landing_url, settings.s3_endpoint_url, digests)
    folder = settings.state_path / "landing" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    return Landing(str(folder.resolve()), digests=digests)


def _database(value: str, settings: Settings, database: str) -> DatabaseUrl:
    """A configured URL as is; `embedded` is `database` on the embedded PostgreSQL."""
    return resolve_postgres(value, settings.state_path, database)


def dimensions_url(settings: Settings, options: Options) -> DatabaseUrl:
    return _database(options.dimensions_url, settings, NAME)


def warehouse_url(settings: Settings, options: Options) -> DatabaseUrl:
    return _database(options.warehouse_url, settings, "warehouse")


def warehouse_schema(url: DatabaseUrl, options: Options) -> str | None:
    """MySQL: the URL's database (the seed keeps marts beside the dimensions); PostgreSQL:
    schema `retail_marts`."""
    if options.warehouse_schema is not None or url.kind == "mysql":
        return options.warehouse_schema
    return NAME


def generate_source(
    settings: Settings,
    options: BaseModel,
    *,
    transactions: int | None = None,
    source: str | None = None,
    seed: int = 42,
    console: Console | None = None,
) -> tuple[DatabaseUrl, Any]:
    """`strata generate retail_marts`: the dimension tables and the sales files to land
    (`--transactions` sizes the one-date file, default 400,000 rows)."""
    from strata.pipelines.retail_marts.generate import generate

    assert isinstance(options, Options)
    url = _database(source or options.dimensions_url, settings, NAME)
    area = landing(settings, options)
    if console is not None:
        console.print(f"[dim]landing area: {area.uri}[/dim]")
    return url, generate(url, area, seed=seed, big_rows=transactions or options.big_file_rows)


def _generate_if_empty(ctx: RunContext, options: Options, area: Landing) -> bool:
    """Embedded defaults only, first run only: create the sample dimensions and files."""
    if options.dimensions_url != EMBEDDED or not options.generate_if_empty:
        return False
    url = dimensions_url(ctx.settings, options)
    with DatabaseSource(url.url, schema=options.dimensions_schema) as source:
        if "customer" in source.tables():
            return False
    from strata.pipelines.retail_marts.generate import generate

    ctx.console.print(
        "[dim]retail_marts: generating the sample dimensions (embedded PostgreSQL) and sales "
        f"files ({options.big_file_rows:,}-row one-date file) in {area.uri}[/dim]"
    )
    generate(url, area, big_rows=options.big_file_rows)
    return True


def ledger(ctx: RunContext) -> FileLedger:
    return FileLedger(ctx.settings.state_path)


def _mirror_staging(ctx: RunContext, options: Options) -> int | None:
    """The seed's `product_staging_table` (A/I) in a MySQL warehouse; None elsewhere."""
    url = warehouse_url(ctx.settings, options)
    if not options.staging_table or url.kind != "mysql":
        return None
    from strata.files.staging import mirror_staging_table

    return mirror_staging_table(url.url, ledger(ctx).entries(NAME))


def _outcome_metrics(outcomes: list[FileOutcome]) -> dict[str, Any]:
    return {
        o.file.name: {
            "status": o.status,
            "rows": o.rows,
            **({"reason": o.reason} if o.reason else {}),
            **({"recovered": True} if o.recovered else {}),
            **({"moved_to": o.location} if o.location else {}),
        }
        for o in outcomes
    }


def land(ctx: RunContext, options: Options) -> StepResult:
    """Validate every new file under the incoming prefix: good ones into bronze `sales`, bad
    ones to the error prefix with a reason file. Files stay `active` until `finish`."""
    area = landing(ctx.settings, options)
    generated = _generate_if_empty(ctx, options, area)
    with ctx.progress("validate landed files", None) as bar:
        outcomes = land_files(
            area,
            ledger(ctx),
            options.plan(),
            ctx.bronze("sales"),
            ctx.run_id,
            on_outcome=lambda _: bar.advance(bar.task_ids[0]),
        )
    ctx.outputs[LANDED] = outcomes
    rejected = [o for o in outcomes if o.status == "rejected"]
    metrics: dict[str, Any] = {"landing": area.uri, "files": _outcome_metrics(outcomes)}
    if generated:
        metrics["generated_sample"] = True
    staged = _mirror_staging(ctx, options)
    if staged is not None:
        metrics["staging_rows_changed"] = staged
    return StepResult(
        rows_out=sum(o.rows for o in outcomes if o.status == "loaded"),
        metrics=metrics,
        warnings=[f"{o.file.name} rejected: {o.reason} (see {o.location})" for o in rejected],
    )


def extract_dimensions(ctx: RunContext, options: Options) -> StepResult:
    """The four dimension tables, whole, into bronze (a load is reused when nothing changed)."""
    url = dimensions_url(ctx.settings, options)
    metrics: dict[str, Any] = {}
    with (
        DatabaseSource(url.url, schema=options.dimensions_schema) as source,
        ctx.progress("extract dimensions", len(DIMENSIONS)) as bar,
    ):
        for table in DIMENSIONS:
            load = extract_to_bronze(
                source, ctx.bronze(table), TableSpec(table), fmt="parquet", run_id=ctx.run_id
            )
            metrics[table] = load.to_dict()
            bar.advance(bar.task_ids[0])
    return StepResult(rows_out=sum(m["rows"] for m in metrics.values()), metrics=metrics)


def load(ctx: RunContext, options: Options) -> StepResult:
    """Both marts into the warehouse by merge on their keys: a rerun updates, never doubles."""
    url = warehouse_url(ctx.settings, options)
    schema = warehouse_schema(url, options)
    return sync_models(ctx, url, GOLD, schema=schema, mode="merge", batch_rows=options.batch_rows)


def finish(ctx: RunContext, options: Options) -> StepResult:
    """Loaded files to the processed prefix, ledger `processed` (staging table `I`)."""
    area, files, plan = landing(ctx.settings, options), ledger(ctx), options.plan()
    outcomes = landed_outcomes(ctx.outputs, area, files, plan)
    finish_files(area, files, plan, outcomes)
    moved = [o.file.name for o in outcomes if o.status in ("loaded", "skipped")]
    metrics: dict[str, Any] = {"moved": moved}
    staged = _mirror_staging(ctx, options)
    if staged is not None:
        metrics["staging_rows_changed"] = staged
    return StepResult(rows_out=len(moved), metrics=metrics)


def build(options: BaseModel) -> Pipeline:
    """The retail_marts pipeline for the given options."""
    assert isinstance(options, Options)
    connect = database_retry(options.connect_interval, options.connect_attempts)
    return Pipeline(
        name=NAME,
        description=DESCRIPTION,
        steps=[
            Step(
                "land",
                lambda ctx: land(ctx, options),
                description="validate landed CSVs; good ones to bronze, bad ones to the "
                "error prefix with a reason file",
            ),
            Step(
                "dimensions",
                lambda ctx: extract_dimensions(ctx, options),
                retry=(connect,),
                description="customer, store, product, sales_team from the database to bronze",
            ),
            model_step(
                "refine",
                *SILVER,
                description="silver dimensions and sales; unknown keys to quarantine",
            ),
            model_step(
                "publish",
                *GOLD,
                description="gold customers_data_mart and sales_team_data_mart",
            ),
            Step(
                "load",
                lambda ctx: load(ctx, options),
                retry=(connect,),
                description="marts into the warehouse by merge on their keys",
            ),
            Step(
                "finish",
                lambda ctx: finish(ctx, options),
                description="loaded files to the processed prefix; ledger updated",
            ),
            housekeeping_step(),
        ],
    )
