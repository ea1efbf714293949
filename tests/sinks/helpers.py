"""Helpers for the warehouse tests: hand-written SQL against a warehouse's tables."""

from __future__ import annotations

from strata.sinks import Warehouse
from strata.sinks.base import TableRef


def run_sql(wh: Warehouse, statement: str) -> None:
    """Run a setup statement and commit it (tests only: uses the backend's private hook)."""
    wh._execute(statement)
    if wh.kind == "postgresql":
        wh._commit()


def qualified(wh: Warehouse, table: str, schema: str | None = None) -> str:
    """The quoted, qualified name of `table` for hand-written SQL."""
    return wh.dialect.table(TableRef(schema or wh.namespace, table))


def quote(wh: Warehouse, name: str) -> str:
    return wh.dialect.quote(name)


def rows(wh: Warehouse, table: str, order: str = "id", schema: str | None = None) -> list[dict]:
    """All rows of `table`, ordered by `order`."""
    return wh.read(
        f"SELECT * FROM {qualified(wh, table, schema)} ORDER BY {quote(wh, order)}"
    ).to_pylist()


def columns(wh: Warehouse, table: str) -> dict[str, str]:
    """Column name → Arrow type name of `table`, as a query reads it back."""
    schema = wh.read(f"SELECT * FROM {qualified(wh, table)} WHERE 1 = 0").schema
    return {f.name: str(f.type) for f in schema}
