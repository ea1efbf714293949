"""Compile quality rules to SQL.

The SQL is written in the DuckDB dialect but sticks to constructs that SQLGlot transpiles to
Spark SQL (``sqlglot.transpile(sql, read="duckdb", write="spark")``): CASE, COALESCE, NULLIF,
CONCAT_WS, IN lists, window counts and LEFT JOINs. The one DuckDB-specific function is
``REGEXP_MATCHES(col, pattern)``, which SQLGlot maps to Spark's ``col RLIKE pattern`` (both
match anywhere in the string, and SQLGlot re-escapes backslashes for Spark's string literals).

Null semantics: a rule's predicate is wrapped in ``COALESCE(predicate, TRUE)``, so a NULL
value passes every rule except ``not_null``, whose predicate is never NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlglot

from strata.quality.rules import (
    AcceptedValues,
    Expression,
    Freshness,
    NotNull,
    Range,
    Regex,
    Relationships,
    RowCount,
    Rule,
    Unique,
)

Resolver = Callable[[str], str]

# Alias of the checked relation; joins for relationships rules are _dq_ref0, _dq_ref1, ...
ROW = "_dq_t"
BLOCK_COLUMN = "_dq_block"
WARN_COLUMN = "_dq_warn"


def quote_identifier(name: str) -> str:
    """A double-quoted SQL identifier (SQLGlot turns these into backticks for Spark)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: Any) -> str:
    """A SQL literal for a string, number, boolean, date or datetime from a rule definition."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return f"{kind} '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _col(name: str) -> str:
    return f"{ROW}.{quote_identifier(name)}"


def _bounds(expr: str, low: Any, high: Any, *, inclusive: bool) -> str:
    lower, upper = (">=", "<=") if inclusive else (">", "<")
    parts = []
    if low is not None:
        parts.append(f"{expr} {lower} {quote_literal(low)}")
    if high is not None:
        parts.append(f"{expr} {upper} {quote_literal(high)}")
    return " AND ".join(parts)


def _not_null(rule: NotNull) -> str:
    return f"{_col(rule.column)} IS NOT NULL"


def _unique(rule: Unique) -> str:
    keys = ", ".join(_col(name) for name in rule.columns)
    # A key with a NULL part passes, like a SQL UNIQUE constraint.
    nulls = " OR ".join(f"{_col(name)} IS NULL" for name in rule.columns)
    return f"COUNT(*) OVER (PARTITION BY {keys}) = 1 OR {nulls}"


def _accepted_values(rule: AcceptedValues) -> str:
    values = ", ".join(quote_literal(value) for value in rule.values)
    return f"{_col(rule.column)} IN ({values})"


def _range(rule: Range) -> str:
    return _bounds(_col(rule.column), rule.min, rule.max, inclusive=rule.inclusive)


def _regex(rule: Regex) -> str:
    return f"REGEXP_MATCHES({_col(rule.column)}, {quote_literal(rule.pattern)})"


def _expression(rule: Expression) -> str:
    # Regenerate the user's text so a trailing "--" comment cannot swallow our closing paren.
    return "(" + sqlglot.parse_one(rule.sql, read="duckdb").sql(dialect="duckdb") + ")"


_PREDICATES: dict[type[Rule], Callable[[Any], str]] = {
    NotNull: _not_null,
    Unique: _unique,
    AcceptedValues: _accepted_values,
    Range: _range,
    Regex: _regex,
    Expression: _expression,
}


def _relationship(rule: Relationships, alias: str, resolve: Resolver) -> tuple[str, str]:
    """The predicate and LEFT JOIN for one relationships rule."""
    # DISTINCT keeps the join from multiplying rows when the parent key is not unique.
    keys = f"SELECT DISTINCT {quote_identifier(rule.field)} AS _dq_key FROM {resolve(rule.to)}"
    join = f"LEFT JOIN ({keys}) AS {alias} ON {_col(rule.column)} = {alias}._dq_key"
    return f"{alias}._dq_key IS NOT NULL OR {_col(rule.column)} IS NULL", join


def _row_checks(rules: Iterable[Rule], resolve: Resolver) -> tuple[list[tuple[Rule, str]], str]:
    """Each row-level rule with its pass predicate, plus the joins those predicates need."""
    checks: list[tuple[Rule, str]] = []
    joins: list[str] = []
    for rule in rules:
        if isinstance(rule, Relationships):
            predicate, join = _relationship(rule, f"_dq_ref{len(joins)}", resolve)
            joins.append(join)
            checks.append((rule, predicate))
        elif not rule.table_level:
            checks.append((rule, _PREDICATES[type(rule)](rule)))
    return checks, "".join(f"\n{join}" for join in joins)


def _failed_names(checks: Sequence[tuple[Rule, str]]) -> str:
    """A VARCHAR expression: the comma-joined names of the failed checks, NULL when none."""
    if not checks:
        return "CAST(NULL AS VARCHAR)"
    cases = ",\n    ".join(
        f"CASE WHEN NOT COALESCE({predicate}, TRUE) THEN {quote_literal(rule.name)} END"
        for rule, predicate in checks
    )
    # CONCAT_WS skips NULLs (DuckDB and Spark alike) and yields '' when all are NULL.
    return f"NULLIF(CONCAT_WS(',',\n    {cases}), '')"


def compile_checks(relation: str, rules: Iterable[Rule], resolve: Resolver | None = None) -> str:
    """A SELECT over ``relation`` keeping every column and adding ``_dq_block`` and ``_dq_warn``.

    Each added column holds the comma-separated names of the failed row-level rules of that
    severity, or NULL when none failed. Table-level rules are ignored here (see
    :func:`compile_table_checks`). ``resolve`` maps a relationships rule's ``to`` reference
    (e.g. ``"silver.sensors"``) to a SQL relation; by default the reference is used as is.
    """
    checks, joins = _row_checks(rules, resolve or (lambda reference: reference))
    block = _failed_names([check for check in checks if check[0].severity == "block"])
    warn = _failed_names([check for check in checks if check[0].severity == "warn"])
    return (
        f"SELECT {ROW}.*,\n  {block} AS {BLOCK_COLUMN},\n  {warn} AS {WARN_COLUMN}\n"
        f"FROM {relation} AS {ROW}{joins}"
    )


def _row_count(relation: str, rule: RowCount) -> str:
    passed = _bounds("COUNT(*)", rule.min, rule.max, inclusive=True)
    return f"SELECT {passed} AS passed, COUNT(*) AS observed FROM {relation} AS {ROW}"


def _freshness(relation: str, rule: Freshness) -> str:
    newest = f"MAX({quote_identifier(rule.column)})"
    # Seconds, because an INTERVAL literal takes whole units and max_age_hours may be 1.5.
    seconds = round(rule.max_age_hours * 3600)
    # An empty (or all-NULL) column has no fresh row, so it fails rather than passing as NULL.
    passed = f"COALESCE({newest} >= CURRENT_TIMESTAMP - INTERVAL '{seconds}' SECOND, FALSE)"
    observed = f"CAST({newest} AS VARCHAR)"
    return f"SELECT {passed} AS passed, {observed} AS observed FROM {relation} AS {ROW}"


def compile_table_checks(relation: str, rules: Iterable[Rule]) -> list[tuple[Rule, str]]:
    """One single-row query per table-level rule, with columns ``passed`` and ``observed``.

    ``observed`` is the row count for ``row_count`` and the newest timestamp as text for
    ``freshness``. Naive timestamps are compared with CURRENT_TIMESTAMP in the session's time
    zone, so keep the session in UTC when the data holds naive UTC times.
    """
    queries: list[tuple[Rule, str]] = []
    for rule in rules:
        if isinstance(rule, RowCount):
            queries.append((rule, _row_count(relation, rule)))
        elif isinstance(rule, Freshness):
            queries.append((rule, _freshness(relation, rule)))
    return queries
