"""weather_sales (seed 000): local sales CSVs + per-store weather → gold → on-premise PostgreSQL.

The cloud side never connects into the on-premise network: after publishing gold it puts a
message on a queue ({layer: GOLD, table, date_key, version}), and `strata worker` on the
premises pulls it and merges that table version's day into PostgreSQL.

Fixes over the seed: a wrong sales file goes to an error prefix naming its missing and extra
columns instead of failing the Glue job; sales without weather are kept and flagged instead of
vanishing in an inner join; the weather fan-out retries (429/5xx, Retry-After) and a store that
still fails is fetched again next run; the queue message carries the table version, and the
worker merges by key (a redelivered message changes nothing), evolves the table (new gold
columns are added), and deletes the message only after the database commit (the seed deleted it
even when the export failed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from strata.config import Settings
from strata.db import DatabaseUrl
from strata.db.embedded import EMBEDDED, resolve_postgres
from strata.errors import SourceError
from strata.files.digests import DigestCache
from strata.files.ingest import (
    LANDED,
    LandingPlan,
    finish_files,
    land_files,
    landed_outcomes,
)
from strata.files.landing import Landing, local_md5
from strata.files.ledger import FileLedger
from strata.files.validate import ColumnSpec
from strata.lake.delta import DeltaTableIO
from strata.runner import Pipeline, RunContext, Step, StepResult, model_step
from strata.runner.housekeeping import housekeeping_step
from strata.runner.store import Checkpoints
from strata.sources import Fetch, Fetched, RestSource, RetryPolicy

if TYPE_CHECKING:
    from strata.queues import Queue
    from strata.worker import WorkerSetup

NAME = "weather_sales"
DESCRIPTION = "Local sales CSVs + per-store weather → gold fact → queue → on-premise PostgreSQL"
GOLD_TABLE = "fact_daily_sales_weather"
SALES_PREFIX = "raw/sales"
MASTER_PREFIX = "raw/master"
ERROR_PREFIX = "raw/error/sales"
MASTER_FILES = {"dim_store.csv": "stores", "dim_product.csv": "products"}
WEATHER_PATH = "/data/2.5/weather"
SALES_COLUMNS = (
    ColumnSpec("transaction_id", pa.string()),
    ColumnSpec("store_id", pa.string()),
    ColumnSpec("sale_date", pa.string()),
    ColumnSpec("product_id", pa.string()),
    ColumnSpec("product_name", pa.string()),
    ColumnSpec("units_sold", pa.int64()),
    ColumnSpec("sales_amount", pa.decimal128(12, 2)),
)
SILVER = ("stores", "products", "sales", "weather")
GOLD = (GOLD_TABLE,)


class Options(BaseModel):
    """weather_sales settings (`[profiles.<env>.pipelines.weather_sales]`,
    `STRATA_WEATHER_SALES__*`).

    `embedded` defaults: the sales folder is `<state dir>/sources/weather_sales` (filled with
    the seed's mock data on the first run), the weather API is a local stand-in, the queue is
    the embedded local queue and the warehouse the embedded PostgreSQL (database
    `weather_sales_db`). The seed's setup: `api_url = "https://api.openweathermap.org"` with
    `api_key = "env:OPENWEATHER_API_KEY"`, an SQS FIFO `queue_url`, a PostgreSQL URL.
    """

    model_config = ConfigDict(extra="forbid")

    source_folder: str = EMBEDDED
    generate_if_empty: bool = True
    days: int = Field(7, ge=1)
    rows_per_day: int = Field(50_000, ge=1)
    api_url: str = EMBEDDED
    api_key: str = "embedded"
    concurrency: int = Field(10, ge=1)
    request_timeout: float = 30.0
    request_attempts: int = Field(4, ge=1)
    max_retry_after: float = 60.0
    queue_url: str = "local:weather_sales_export_queue.fifo"
    # FIFO message group prefix: one group per gold day (`<prefix>.<date_key>`), so the versions
    # of one day arrive in order while a day that keeps failing does not hold up the others
    # (the seed's single group did).
    queue_group: str = "weather_sales_export_group"
    dead_letter_queue: str = "weather_sales_export_dlq.fifo"
    max_receives: int = Field(5, ge=1)
    visibility_timeout: int = Field(60, ge=1)
    worker_concurrency: int = Field(2, ge=1)  # days the worker syncs at once
    warehouse_url: str = EMBEDDED
    warehouse_schema: str = "public"
    batch_rows: int = Field(250_000, ge=1_000)


# -- sources ------------------------------------------------------------------------------------


def source_folder(settings: Settings, options: Options) -> Path:
    if options.source_folder != EMBEDDED:
        return Path(options.source_folder)
    return settings.state_path / "sources" / NAME


def raw_zone(ctx: RunContext) -> Landing:
    """The lake's raw zone, laid out as the seed's bucket (`raw/sales/date_key=…/`)."""
    settings = ctx.settings
    return Landing(settings.lake, settings.s3_endpoint_url, DigestCache(settings.state_path))


def warehouse_url(settings: Settings, options: Options) -> DatabaseUrl:
    return resolve_postgres(options.warehouse_url, settings.state_path, "weather_sales_db")


def generate_source(
    settings: Settings,
    options: BaseModel,
    *,
    transactions: int | None = None,
    source: str | None = None,
    seed: int = 42,
    console: Console | None = None,
    days: int | None = None,
) -> tuple[str, Any]:
    """`strata generate weather_sales`: the seed's mock sales (one file per day, ending
    yesterday) and master files in the source folder."""
    from strata.pipelines.weather_sales.generate import generate

    assert isinstance(options, Options)
    folder = Path(source) if source else source_folder(settings, options)
    folder.mkdir(parents=True, exist_ok=True)
    end = datetime.now(UTC).date() - timedelta(days=1)
    result = generate(
        folder,
        days=days or options.days,
        end=end,
        rows_per_day=transactions or options.rows_per_day,
        seed=seed,
    )
    return str(folder), result


def _sales_target(name: str) -> str | None:
    """`sales_transaction_data_YYYYMMDD.csv` → `raw/sales/date_key=YYYY-MM-DD/sales_data_…`."""
    stem = name.removesuffix(".csv")
    if not name.endswith(".csv") or not stem.startswith("sales_transaction_data_"):
        return None
    day = stem.removeprefix("sales_transaction_data_")
    try:
        parsed = datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        return None
    return f"{SALES_PREFIX}/date_key={parsed.isoformat()}/sales_data_{day}.csv"


def _targets(folder: Path) -> dict[Path, str]:
    """Each local file to upload and its key in the raw zone."""
    targets: dict[Path, str] = {}
    for path in sorted(folder.glob("*.csv")):
        if path.name in MASTER_FILES:
            targets[path] = f"{MASTER_PREFIX}/{path.name}"
        elif (key := _sales_target(path.name)) is not None:
            targets[path] = key
    return targets


def _generate_if_empty(ctx: RunContext, options: Options, folder: Path) -> bool:
    if options.source_folder != EMBEDDED or not options.generate_if_empty:
        return False
    if folder.is_dir() and any(folder.glob("*.csv")):
        return False
    ctx.console.print(
        f"[dim]weather_sales: generating {options.days} days of the seed's mock sales "
        f"({options.rows_per_day:,} rows a day) in {folder}[/dim]"
    )
    generate_source(ctx.settings, options)
    return True


# -- steps --------------------------------------------------------------------------------------


def upload(ctx: RunContext, options: Options) -> StepResult:
    """Local CSVs into the raw zone; a file whose MD5 and size equal the stored object's (its
    ETag, for a single-part upload) is skipped, as the seed's ingestion script does."""
    folder = source_folder(ctx.settings, options)
    generated = _generate_if_empty(ctx, options, folder)
    if not folder.is_dir():
        raise SourceError(f"weather_sales source folder {folder} does not exist")
    zone = raw_zone(ctx)
    ledger = FileLedger(ctx.settings.state_path)
    targets = _targets(folder)
    uploaded, skipped, rejected = [], [], {}
    with ctx.progress("upload to the raw zone", len(targets)) as bar:
        for path, key in targets.items():
            if zone.same_content(key, path):
                skipped.append(key)
            elif reason := _rejected_before(ledger, path):
                rejected[path.name] = reason
            else:
                zone.upload(key, path)
                uploaded.append(key)
            bar.advance(bar.task_ids[0])
    ignored = sorted(p.name for p in folder.iterdir() if p.is_file() and p not in targets)
    metrics: dict[str, Any] = {"uploaded": uploaded, "skipped": len(skipped)}
    if ignored:
        metrics["ignored"] = ignored
    if rejected:
        metrics["rejected_before"] = rejected
    if generated:
        metrics["generated_sample"] = True
    warnings = [f"{name}: not a sales or master file name, not uploaded" for name in ignored]
    warnings += [
        f"{name}: rejected by an earlier run ({reason}); not uploaded again until it changes"
        for name, reason in sorted(rejected.items())
    ]
    return StepResult(rows_out=len(uploaded), metrics=metrics, warnings=warnings)


def _rejected_before(ledger: FileLedger, path: Path) -> str | None:
    """The reason an earlier run rejected these exact bytes, if one did: uploading them again
    would only put another copy into the error prefix."""
    entry = ledger.entry(NAME, local_md5(path))
    return (entry.reason or "rejected") if entry and entry.status == "failed" else None


def plan() -> LandingPlan:
    return LandingPlan(
        NAME,
        incoming=SALES_PREFIX,
        processed=None,
        errors=ERROR_PREFIX,
        columns=SALES_COLUMNS,
        exact=True,
    )


def land(ctx: RunContext, options: Options) -> StepResult:
    """New raw sales files through the seed's exact-schema gate into bronze `sales` (a wrong
    file goes to `raw/error/sales/` with its missing and extra columns named), and the master
    files into bronze `stores` and `products`."""
    zone = raw_zone(ctx)
    ledger = FileLedger(ctx.settings.state_path)
    with ctx.progress("check raw sales files", None) as bar:
        outcomes = land_files(
            zone,
            ledger,
            plan(),
            ctx.bronze("sales"),
            ctx.run_id,
            on_outcome=lambda _: bar.advance(bar.task_ids[0]),
        )
    ctx.outputs[LANDED] = outcomes
    masters = _land_masters(ctx, zone)
    loaded = [o for o in outcomes if o.status == "loaded"]
    rejected = [o for o in outcomes if o.status == "rejected"]
    return StepResult(
        rows_out=sum(o.rows for o in loaded),
        metrics={
            "loaded": {o.file.name: o.rows for o in loaded},
            "rejected": {o.file.name: o.reason for o in rejected},
            "already_loaded": sum(o.status == "skipped" for o in outcomes),
            "master": masters,
        },
        warnings=[f"{o.file.name} rejected: {o.reason} (see {o.location})" for o in rejected],
    )


def _land_masters(ctx: RunContext, zone: Landing) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, entity in MASTER_FILES.items():
        key = f"{MASTER_PREFIX}/{name}"
        if not zone.exists(key):
            raise SourceError(f"master file {zone.where(key)} is missing (upload {name})")
        manifest = ctx.bronze(entity).write(
            name, zone.read(key), fmt="csv", run_id=ctx.run_id, source_position={"file": key}
        )
        found[entity] = {"load_id": manifest.load_id, "reused": manifest.reused}
    return found


def _stores(zone: Landing) -> list[dict[str, Any]]:
    """Stores with coordinates from `raw/master/dim_store.csv` (the seed's Lambda1)."""
    key = f"{MASTER_PREFIX}/dim_store.csv"
    try:
        table = pa_csv.read_csv(pa.py_buffer(zone.read(key)))
        rows = table.select(["store_id", "latitude", "longitude"]).to_pylist()
    except (pa.ArrowInvalid, KeyError) as exc:
        raise SourceError(f"{zone.where(key)}: cannot read store coordinates: {exc}") from exc
    return [
        {"store_id": str(r["store_id"]).strip(), "lat": r["latitude"], "lon": r["longitude"]}
        for r in rows
    ]


def _days_with_sales(zone: Landing) -> list[str]:
    days = set()
    for file in zone.names(SALES_PREFIX):
        part = file.split("/")[2] if file.count("/") >= 3 else ""
        if part.startswith("date_key="):
            days.add(part.removeprefix("date_key="))
    return sorted(days)


def _fetched(ctx: RunContext) -> set[tuple[str, str]]:
    done: set[tuple[str, str]] = set()
    for manifest in ctx.bronze("weather").loads():
        done.update(tuple(k.split("/", 1)) for k in manifest.source_position.get("fetched", []))
    return done


def _base_url(ctx: RunContext, options: Options) -> str:
    if options.api_url != EMBEDDED:
        return options.api_url.rstrip("/")
    if "api_url" not in ctx.outputs:
        from strata.apis.openweather import openweather_server

        server = ctx.resources.enter_context(openweather_server())
        ctx.outputs["api_url"] = server.url
    return str(ctx.outputs["api_url"])


def weather(ctx: RunContext, options: Options) -> StepResult:
    """Per store and sales day not fetched yet, the current-weather call (the seed's Map
    state: bounded concurrency, retries); raw responses into bronze `weather`."""
    zone = raw_zone(ctx)
    done = set() if ctx.full_refresh else _fetched(ctx)
    stores = _stores(zone)
    todo = [
        (store, day)
        for day in _days_with_sales(zone)
        for store in stores
        if (store["store_id"], day) not in done
    ]
    if not todo:
        return StepResult(rows_out=0, metrics={"fetched": 0, "up_to_date": True})
    source = RestSource(
        _base_url(ctx, options) + WEATHER_PATH,
        name="weather API",
        concurrency=options.concurrency,
        timeout=options.request_timeout,
        retry=RetryPolicy(attempts=options.request_attempts, max_delay=options.max_retry_after),
    )
    fetches = [
        Fetch(
            f"{store['store_id']}/{day}",
            {
                "lat": store["lat"],
                "lon": store["lon"],
                "appid": options.api_key,
                "units": "metric",
                "date": day,
            },
        )
        for store, day in todo
    ]
    with ctx.progress(f"weather for {len(fetches)} store-days", len(fetches)) as bar:
        results = source.fetch_all(fetches, on_done=lambda _: bar.advance(bar.task_ids[0]))
    return _store_weather(ctx, results)


def _store_weather(ctx: RunContext, results: list[Fetched]) -> StepResult:
    good = [r for r in results if r.ok]
    failed = {r.key: r.error or f"HTTP {r.status}" for r in results if not r.ok}
    if good:
        lines = [
            json.dumps(
                {
                    "store_id": r.key.split("/")[0],
                    "date_key": r.key.split("/")[1],
                    "fetched_at": r.fetched_at,
                    "response": r.body,
                }
            )
            for r in good
        ]
        ctx.bronze("weather").write(
            "weather.jsonl",
            ("\n".join(lines) + "\n").encode(),
            fmt="jsonl",
            run_id=ctx.run_id,
            source_position={"fetched": [r.key for r in good], "failed": failed},
        )
    if failed and not good:
        sample = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        raise SourceError(f"no weather could be fetched ({len(failed)} failed: {sample})")
    warnings = [
        f"weather {key} failed after retries ({reason}); fetched again on the next run"
        for key, reason in failed.items()
    ]
    return StepResult(
        rows_out=len(good), metrics={"fetched": len(good), "failed": failed}, warnings=warnings
    )


def queue(settings: Settings, options: Options) -> Queue:
    """The export queue: SQS when `queue_url` is an SQS URL, else the embedded local queue."""
    from strata.queues import open_queue

    return open_queue(
        options.queue_url,
        state_dir=settings.state_path,
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
        dlq=options.dead_letter_queue,
        max_receives=options.max_receives,
        visibility_timeout=options.visibility_timeout,
    )


def worker_setup(settings: Settings, options: BaseModel) -> WorkerSetup:
    """`strata worker weather_sales`: the export queue and the on-premise PostgreSQL."""
    from strata.worker import Target, WorkerSetup

    assert isinstance(options, Options)
    return WorkerSetup(
        open_queue=lambda: queue(settings, options),
        queue_label=options.queue_url,
        target=Target(warehouse_url(settings, options), options.warehouse_schema),
        visibility_timeout=options.visibility_timeout,
        batch_rows=options.batch_rows,
        concurrency=options.worker_concurrency,
    )


def notify(ctx: RunContext, options: Options) -> StepResult:
    """One message per gold day changed since the last announced version; the checkpoint
    moves only after every message is sent (a resend is harmless: the worker merges)."""
    model = ctx.models[GOLD_TABLE]
    table = DeltaTableIO(ctx.lake, model.table_path)
    checkpoints = Checkpoints(ctx.settings.state_path)
    last = checkpoints.get(NAME, f"notified:{GOLD_TABLE}")
    version, changed = table.changed_partitions(None if last is None else int(last))
    if version is None or not changed:
        return StepResult(rows_out=0, metrics={"messages": 0, "version": version})
    with queue(ctx.settings, options) as export:
        for partition in changed:
            body = {
                "status": "READY",
                "layer": "GOLD",
                "pipeline": NAME,
                "table": GOLD_TABLE,
                "date_key": partition["date_key"],
                "version": version,
                "run_id": ctx.run_id,
            }
            export.send(
                json.dumps(body),
                group_id=f"{options.queue_group}.{partition['date_key']}",
                dedup_id=f"{GOLD_TABLE}:{partition['date_key']}:{version}",
            )
    checkpoints.set(NAME, f"notified:{GOLD_TABLE}", str(version))
    days = [p["date_key"] for p in changed]
    return StepResult(
        rows_out=len(days), metrics={"messages": len(days), "version": version, "days": days}
    )


def finish(ctx: RunContext, options: Options) -> StepResult:
    """The run's sales files are marked processed in the ledger (they stay in the raw zone)."""
    zone, ledger = raw_zone(ctx), FileLedger(ctx.settings.state_path)
    outcomes = landed_outcomes(ctx.outputs, zone, ledger, plan())
    finish_files(zone, ledger, plan(), outcomes)
    return StepResult(rows_out=sum(o.status == "loaded" for o in outcomes))


def build(options: BaseModel) -> Pipeline:
    """The weather_sales pipeline for the given options."""
    assert isinstance(options, Options)
    return Pipeline(
        name=NAME,
        description=DESCRIPTION,
        steps=[
            Step(
                "upload",
                lambda ctx: upload(ctx, options),
                description="local CSVs into raw/ (skipped when MD5 and size match)",
                on_premises=True,  # the sales folder is on the premises, as in the seed
            ),
            Step(
                "land",
                lambda ctx: land(ctx, options),
                description="exact-schema gate; sales and master files into bronze",
            ),
            Step(
                "weather",
                lambda ctx: weather(ctx, options),
                description="current weather per store and sales day into bronze",
            ),
            model_step("refine", *SILVER, description="silver stores, products, sales, weather"),
            model_step("publish", *GOLD, description="gold fact_daily_sales_weather by day"),
            Step(
                "notify",
                lambda ctx: notify(ctx, options),
                description="one queue message per changed gold day",
            ),
            Step(
                "finish",
                lambda ctx: finish(ctx, options),
                description="landed sales files marked processed in the file ledger",
            ),
            housekeeping_step(),
        ],
    )
