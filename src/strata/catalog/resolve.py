"""Map the table names people write in SQL onto lake tables, with SQLGlot.

`layer.pipeline.table` is explicit; `layer.table` means the current pipeline's table in that
layer; `pipeline.table` means the gold table. CTE names and engine-local names are left alone.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from strata.catalog.local import LAYERS, TableRef
from strata.errors import ConfigError, unknown_name


def _ref_of(table: exp.Table, pipeline: str | None) -> TableRef | None:
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    if len(parts) == 3 and parts[0] in LAYERS:
        return TableRef(*parts)
    if len(parts) == 2 and parts[0] in LAYERS and pipeline:
        return TableRef(parts[0], pipeline, parts[1])
    if len(parts) == 2 and parts[0] not in LAYERS:
        return TableRef("gold", parts[0], parts[1])
    return None


def resolve_tables(
    sql: str,
    known: list[TableRef],
    pipeline: str | None = None,
    dialect: str = "duckdb",
) -> tuple[str, list[TableRef]]:
    """Rewrite lake table names into engine relation names; return the SQL and the tables used.

    Raises ConfigError naming an unknown table and the closest existing one.
    """
    try:
        statements = sqlglot.parse(sql, read=dialect)
    except ParseError as exc:
        raise ConfigError(f"SQL does not parse: {exc}") from exc
    available = {str(r): r for r in known}
    used: dict[str, TableRef] = {}
    out = []
    for tree in statements:
        if tree is None:
            continue
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            ref = _ref_of(table, pipeline)
            if ref is None or (not table.db and table.name in ctes):
                continue
            if str(ref) not in available:
                raise unknown_name("table", str(ref), available)
            used[str(ref)] = ref
            alias = table.alias or table.name
            table.replace(exp.to_table(ref.relation).as_(alias))
        out.append(tree.sql(dialect=dialect))
    return ";\n".join(out), list(used.values())


def resolve_reference(reference: str, known: list[TableRef], pipeline: str | None) -> TableRef:
    """The lake table a name outside SQL means (a relationships rule's `to`, e.g.
    `silver.customer`), by the same rules as names in SQL; ConfigError if there is none."""
    try:
        table = exp.to_table(reference, dialect="duckdb")
    except (ParseError, ValueError) as exc:
        raise ConfigError(f"{reference!r} is not a table name") from exc
    ref = _ref_of(table, pipeline)
    if ref is None:
        raise ConfigError(f"{reference!r} does not name a lake table (use layer.table)")
    available = {str(r): r for r in known}
    if str(ref) not in available:
        raise unknown_name("table", str(ref), available)
    return ref
