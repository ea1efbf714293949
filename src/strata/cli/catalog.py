"""`strata catalog`: register the lake's tables in an external catalog (the Glue Data Catalog).

    strata catalog sync --glue --env prod [--pipeline weather_sales ...] [--prune] [--dry-run]

`--glue` is required: Glue is the only catalog target so far, and naming it keeps the command
explicit when others (a Hive metastore, Unity) come. Registered: `strata.aws.catalog`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from strata.errors import ConfigError

if TYPE_CHECKING:
    import strata.cli.app as cli
    from strata.aws.catalog import CatalogSyncReport, TableSync
else:
    # The module, not its names: app.py imports this module to register `catalog_app`, so the
    # helpers it shares (`_settings`, `out`, `LakeOpt`, `EnvOpt`) are looked up when a command
    # runs, by then all defined, wherever app.py puts the import. (`import strata.cli.app as
    # cli` would bind the Typer `app` that strata/cli/__init__.py re-exports under that name.)
    cli = importlib.import_module("strata.cli.app")

catalog_app = typer.Typer(
    help="Register the lake's tables in a data catalog (AWS Glue).", no_args_is_help=True
)


@catalog_app.callback()
def _catalog() -> None:
    """Register the lake's tables in a data catalog (AWS Glue)."""


_STYLE = {
    "created": "green",
    "updated": "cyan",
    "unchanged": "dim",
    "removed": "red",
    "stale": "yellow",
}


@catalog_app.command("sync")
def sync(
    glue: Annotated[
        bool, typer.Option("--glue", help="Sync the AWS Glue Data Catalog (required).")
    ] = False,
    lake: cli.LakeOpt = None,
    env: cli.EnvOpt = None,
    pipeline: Annotated[
        list[str] | None,
        typer.Option("--pipeline", "-p", help="Only this pipeline (repeatable; default: all)."),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove tables and bronze partitions gone from the lake."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
) -> None:
    """Register silver/gold Delta tables and bronze loads in the Glue Data Catalog, one
    database per pipeline (strata_<env>_<pipeline>). Idempotent: a second sync changes nothing."""
    from strata.aws.catalog import sync_glue_catalog

    if not glue:
        raise ConfigError("choose the catalog to sync: --glue (the AWS Glue Data Catalog)")
    settings = cli._settings(lake, env)
    report = sync_glue_catalog(settings, pipelines=pipeline or None, prune=prune, dry_run=dry_run)
    cli.out.print(report_table(report))
    cli.out.print(report.summary())


def report_table(report: CatalogSyncReport) -> Table:
    """One row per database and table: what the sync did, and the bronze partitions."""
    title = "Glue catalog sync" + (" (dry run)" if report.dry_run else "")
    table = Table(title=title, title_justify="left")
    for column in ("database", "table", "format", "action", "partitions", "location"):
        table.add_column(column, justify="right" if column == "partitions" else "left")
    for db in report.databases:
        table.add_row(db.name, "", "", _action(db.action), "", "")
    for t in report.tables:
        table.add_row(t.database, t.name, t.format, _action(t.action), _partitions(t), t.location)
    return table


def _action(action: str) -> str:
    return f"[{_STYLE.get(action, 'white')}]{action}[/]"


def _partitions(t: TableSync) -> str:
    if t.layer != "bronze" or not t.format:
        return ""
    changes = [
        f"+{t.partitions_added}" if t.partitions_added else "",
        f"-{t.partitions_removed}" if t.partitions_removed else "",
        f"{t.partitions_stale} stale" if t.partitions_stale else "",
    ]
    detail = " ".join(c for c in changes if c)
    return f"{t.partitions} ({detail})" if detail else str(t.partitions)
