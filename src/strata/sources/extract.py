"""Database tables into bronze: full or incremental, the checkpoint stored with the data.

The checkpoint of a table is the `upto` of its newest bronze load (its manifest is written after
the data files, so a crash mid-extract leaves no manifest and the next run repeats the range).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from strata.lake.bronze import Bronze
from strata.sources.database import DatabaseSource


@dataclass(frozen=True)
class TableSpec:
    """A source table to extract; with a `cursor` column only changed rows are read."""

    name: str
    cursor: str | None = None


@dataclass
class TableLoad:
    """What extracting one table did."""

    table: str
    rows: int
    load_id: int | None
    reused: bool
    after: str | None
    upto: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checkpoint(bronze: Bronze) -> str | None:
    """The cursor value the newest load of `bronze` covers up to (None: nothing loaded yet)."""
    newest = bronze.latest()
    return None if newest is None else newest.source_position.get("upto")


def extract_to_bronze(
    source: DatabaseSource,
    bronze: Bronze,
    spec: TableSpec,
    *,
    fmt: str,
    run_id: str,
    full_refresh: bool = False,
    lookback_seconds: float = 0.0,
    file_name: str | None = None,
) -> TableLoad:
    """Extract one table (the rows after its checkpoint, minus a lookback) as a bronze load.
    `file_name` names the load's files (default: the table; may hold `/` for sub-folders)."""
    after = None if full_refresh or spec.cursor is None else checkpoint(bronze)
    extract = source.extract(spec.name, spec.cursor, after, lookback_seconds)
    position = {
        "table": f"{source.schema}.{spec.name}",
        "cursor": spec.cursor,
        "after": after,
        "lookback_seconds": lookback_seconds if after is not None else 0.0,
        "upto": extract.upto,
        "mode": "incremental" if after is not None else "full",
    }

    try:
        manifest = bronze.write_batches(
            file_name or spec.name,
            extract.reader,
            fmt=fmt,
            run_id=run_id,
            source_position=position,
        )
    finally:
        extract.reader.close()  # an unread stream still holds a cursor and a transaction
    if manifest is None:
        return TableLoad(spec.name, 0, None, False, after, after)
    rows = 0 if manifest.reused else manifest.rows
    return TableLoad(spec.name, rows, manifest.load_id, manifest.reused, after, extract.upto)
