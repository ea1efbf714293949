"""Retention, as the profile's `data_retention_days` sets it (the seed's S3 lifecycle rules).

Bronze loads older than the retention are deleted once every model reading them has committed
past them (a load nobody reads, like a health-check result, only needs to be old). Delta tables
are vacuumed at the same horizon, which bounds how far back time travel reaches.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from strata.catalog import TableRef
from strata.lake.delta import DeltaTableIO
from strata.runner.context import RunContext
from strata.runner.pipeline import Step, StepResult


def load_time(load_id: int) -> datetime:
    """When a load was written (its id is UTC YYYYMMDDHHMMSSmmm)."""
    return datetime.strptime(str(load_id // 1000), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _consumed(ctx: RunContext, entities: list[str]) -> dict[str, int | None]:
    """Per bronze entity, the lowest watermark among the models reading it (None when no model
    reads it). Each model's table is opened once for all entities."""
    sources = {e: TableRef("bronze", ctx.pipeline, e) for e in entities}
    marks: dict[str, list[int]] = {e: [] for e in entities}
    for model in ctx.models.values():
        apps = {f"{model.qualified_name}<-{source}": e for e, source in sources.items()}
        found = DeltaTableIO(ctx.lake, model.table_path).watermarks(apps)
        for app, mark in found.items():
            if mark is not None:
                marks[apps[app]].append(mark)
    return {e: min(m) if m else None for e, m in marks.items()}


def _expire_bronze(ctx: RunContext, cutoff: datetime) -> int:
    deleted = 0
    entities = ctx.lake.list_dirs(f"bronze/{ctx.pipeline}")
    consumed_by = _consumed(ctx, entities)
    for entity in entities:
        consumed = consumed_by[entity]
        bronze = ctx.bronze(entity)
        # Ages come from the load ids, so only the manifests of loads to delete are read. The
        # newest committed load always stays: it holds the entity's extract checkpoint.
        newest = bronze.latest()
        for load_id in bronze.load_ids():
            if newest is None or load_id >= newest.load_id or load_time(load_id) >= cutoff:
                continue
            if consumed is not None and load_id > consumed:
                continue
            manifest = bronze.manifest(load_id)
            if manifest is not None:
                bronze.delete(manifest)
                deleted += 1
    return deleted


def housekeeping(ctx: RunContext) -> StepResult:
    days = ctx.settings.data_retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    deleted = _expire_bronze(ctx, cutoff)
    vacuumed = 0
    for model in ctx.models.values():
        vacuumed += len(DeltaTableIO(ctx.lake, model.table_path).vacuum(days * 24))
    return StepResult(
        metrics={
            "bronze_loads_deleted": deleted,
            "files_vacuumed": vacuumed,
            "retention_days": days,
        }
    )


def housekeeping_step() -> Step:
    """The retention step to end a pipeline with."""
    return Step(
        "housekeeping", housekeeping, description="delete expired bronze loads, vacuum Delta tables"
    )
