"""Run quality rules on DuckDB: split passed from quarantined rows and report on each rule."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from strata.errors import ConfigError, QualityError
from strata.quality.compile import (
    BLOCK_COLUMN,
    WARN_COLUMN,
    Resolver,
    compile_checks,
    compile_table_checks,
    quote_literal,
)
from strata.quality.rules import Rule

WARNINGS_COLUMN = "_quality_warnings"
FAILED_RULES_COLUMN = "_quality_failed_rules"
_FLAGS = {"block": BLOCK_COLUMN, "warn": WARN_COLUMN}


@dataclass
class RuleResult:
    """How one rule fared: ``failed`` of ``total`` rows (table-level rules: 0 or 1 of 1)."""

    name: str
    type: str
    severity: str
    column: str | None
    failed: int
    total: int

    @property
    def failed_share(self) -> float:
        """The share of failing rows, 0.0 when there were none to check."""
        return self.failed / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleResult:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass
class QualityReport:
    """The outcome of a table's quality checks.

    ``score`` is 100 * the mean over rules of (1 - failed/total), where a table-level rule
    counts 1 when it passed and 0 when it failed; 100.0 when there are no rules or no rows.
    ``metrics`` holds ``warned_rows`` and ``observed`` (each table-level rule's observed value).
    """

    table: str
    total_rows: int
    passed_rows: int
    quarantined_rows: int
    rules: list[RuleResult]
    score: float
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        """The inverse of :meth:`to_dict`."""
        rules = [RuleResult.from_dict(item) for item in data.get("rules", [])]
        return cls(**{**data, "rules": rules, "metrics": dict(data.get("metrics", {}))})


class QualityCheckFailed(QualityError):
    """A block rule failed beyond its threshold; ``report`` holds the full outcome."""

    def __init__(self, report: QualityReport, failures: Sequence[str]) -> None:
        self.report = report
        self.failures = list(failures)
        super().__init__(f"quality checks failed for {report.table}: " + "; ".join(failures))


def quality_score(results: Sequence[RuleResult], total_rows: int) -> float:
    """100 * the mean passing share over rules (see :class:`QualityReport`), to 2 decimals."""
    if not results or total_rows == 0:
        return 100.0
    shares = [1.0 - result.failed_share for result in results]
    return round(100.0 * sum(shares) / len(shares), 2)


def _result(rule: Rule, failed: int, total: int) -> RuleResult:
    return RuleResult(rule.name, rule.type, rule.severity, rule.target(), failed, total)


def _count_query(checked: str, rules: Sequence[Rule]) -> str:
    # One pass over the checked rows counts every rule, by finding its name in the flag lists.
    sums = [
        f"SUM(CASE WHEN list_contains(string_split({_FLAGS[rule.severity]}, ','), "
        f"{quote_literal(rule.name)}) THEN 1 ELSE 0 END)"
        for rule in rules
    ]
    counts = ["COUNT(*)", f"COUNT({BLOCK_COLUMN})", f"COUNT({WARN_COLUMN})", *sums]
    return f"SELECT {', '.join(counts)} FROM {checked}"


def _split_query(checked: str, *, quarantined: bool, warnings: bool = True) -> str:
    if quarantined:
        added, where = f", {BLOCK_COLUMN} AS {FAILED_RULES_COLUMN}", "IS NOT NULL"
    else:
        added, where = (f", {WARN_COLUMN} AS {WARNINGS_COLUMN}" if warnings else ""), "IS NULL"
    return (
        f"SELECT * EXCLUDE ({BLOCK_COLUMN}, {WARN_COLUMN}){added} "
        f"FROM {checked} WHERE {BLOCK_COLUMN} {where}"
    )


class SqlBackend(Protocol):
    """Where the checks run: DuckDB here, Spark in `strata.engines.spark`. SQL is DuckDB's."""

    def persist(self, name: str, sql: str) -> None:
        """Run ``sql`` once into a relation ``name`` (spilling to disk as needed).

        Raises ConfigError when ``sql`` does not bind (a rule names a missing column)."""

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` and return its (few) rows."""

    def view(self, name: str, sql: str) -> None:
        """Name ``sql`` ``name``, replacing a relation of that name."""

    def discard(self, name: str) -> None:
        """Drop the relation ``name`` (a view or a persisted table) if it exists."""


class DuckDBBackend:
    """`SqlBackend` on a DuckDB connection: temporary tables and views."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def persist(self, name: str, sql: str) -> None:
        try:
            self.con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        except (duckdb.BinderException, duckdb.CatalogException) as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql).fetchall()
        except (duckdb.BinderException, duckdb.CatalogException) as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc

    def view(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def discard(self, name: str) -> None:
        with contextlib.suppress(duckdb.Error):  # cleaning up; keep any original error
            self.con.execute(f"DROP VIEW IF EXISTS {name}")
        with contextlib.suppress(duckdb.Error):
            self.con.execute(f"DROP TABLE IF EXISTS {name}")


def _backend(con: duckdb.DuckDBPyConnection | SqlBackend) -> SqlBackend:
    return DuckDBBackend(con) if isinstance(con, duckdb.DuckDBPyConnection) else con


def _table_results(
    backend: SqlBackend, rules: Sequence[Rule], source: str
) -> tuple[list[RuleResult], dict[str, Any]]:
    """Table-level rules, run on ``source`` (a copy of the checked relation's rows)."""
    results, observed = [], {}
    for rule, sql in compile_table_checks(source, rules):
        passed, value = backend.fetch(sql)[0]
        results.append(_result(rule, 0 if passed else 1, 1))
        observed[rule.name] = value
    return results, observed


def _failures(report: QualityReport, rules: Sequence[Rule]) -> list[str]:
    """Why the step must fail: block rules over their threshold, failed block table rules."""
    by_name = {rule.name: rule for rule in rules}
    failures = []
    for result in report.rules:
        rule = by_name[result.name]
        if rule.severity != "block" or not result.failed:
            continue
        if rule.table_level:
            observed = report.metrics["observed"][rule.name]
            failures.append(f"rule {rule.name!r} failed (observed {observed!r})")
        elif result.failed_share > rule.threshold:
            failures.append(
                f"rule {rule.name!r} failed on {result.failed} of {result.total} rows "
                f"({result.failed_share:.1%}), above its threshold of {rule.threshold:.1%}"
            )
    return failures


def _build_report(
    table: str, rules: Sequence[Rule], counts: list[int], table_results: list[RuleResult]
) -> QualityReport:
    total, quarantined, warned, *failed = counts
    row_rules = [rule for rule in rules if not rule.table_level]
    by_name = {result.name: result for result in table_results}
    for rule, count in zip(row_rules, failed, strict=True):
        by_name[rule.name] = _result(rule, count, total)
    results = [by_name[rule.name] for rule in rules]
    return QualityReport(
        table=table,
        total_rows=total,
        passed_rows=total - quarantined,
        quarantined_rows=quarantined,
        rules=results,
        score=quality_score(results, total),
        metrics={"warned_rows": warned},
    )


def split(
    con: duckdb.DuckDBPyConnection | SqlBackend,
    relation: str,
    rules: Sequence[Rule],
    *,
    passed: str,
    quarantined: str,
    resolve: Resolver | None = None,
    table_name: str | None = None,
    warnings: bool = True,
) -> tuple[str, QualityReport]:
    """Check ``relation`` once and leave the split in the engine; no row leaves it.

    ``con`` is a DuckDB connection or another engine's `SqlBackend`. ``relation`` (a table or
    view) is read exactly once, into a persisted relation holding every row with its
    failed-rule flags (DuckDB spills it to its ``temp_directory`` beyond its ``memory_limit``).
    ``passed`` and ``quarantined`` become views over it, with the columns :func:`evaluate`
    documents; ``warnings=False`` leaves ``_quality_warnings`` out of ``passed``. Returns the
    persisted relation's name and the report: drop the two views, then it, when done. Nothing
    is left behind when this raises (:class:`QualityCheckFailed` as :func:`evaluate` does,
    ConfigError when a rule does not fit).
    """
    backend = _backend(con)
    checked = f"_dq_checked_{uuid.uuid4().hex}"
    views = (
        (passed, _split_query(checked, quarantined=False, warnings=warnings)),
        (quarantined, _split_query(checked, quarantined=True)),
    )
    try:
        try:
            backend.persist(checked, compile_checks(relation, rules, resolve))
            row_rules = [rule for rule in rules if not rule.table_level]
            counts = [int(n or 0) for n in backend.fetch(_count_query(checked, row_rules))[0]]
            # Table-level rules read the checked copy: the same rows, without recomputing them.
            table_results, observed = _table_results(backend, rules, checked)
        except ConfigError as exc:
            raise ConfigError(f"quality rules on {relation} do not fit the data: {exc}") from exc
        report = _build_report(table_name or relation, rules, counts, table_results)
        report.metrics["observed"] = observed
        failures = _failures(report, rules)
        if failures:
            raise QualityCheckFailed(report, failures)
        for name, sql in views:
            backend.view(name, sql)
    except BaseException:
        for name in (*(name for name, _ in views), checked):
            backend.discard(name)
        raise
    return checked, report


def evaluate(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    rules: Sequence[Rule],
    resolve: Resolver | None = None,
    table_name: str | None = None,
) -> tuple[pa.Table, pa.Table, QualityReport]:
    """Check ``relation`` (a table or view on ``con``) and split its rows.

    Returns ``(passed, quarantined, report)``. ``passed`` holds the rows no block rule failed,
    with ``_quality_warnings`` (comma-separated failed warn rules, NULL when none);
    ``quarantined`` holds the others, with ``_quality_failed_rules`` (the failed block rules).
    Row order is not preserved. ``table_name`` names the table in the report and errors
    (default: ``relation``). Raises :class:`QualityCheckFailed` (a QualityError) when a block
    rule's failing share exceeds its threshold or a block table-level rule fails.

    Both splits are fetched as Arrow tables: for data of any size, use :func:`split`, which
    leaves them in DuckDB.
    """
    suffix = uuid.uuid4().hex
    names = (f"_dq_passed_{suffix}", f"_dq_quarantined_{suffix}")
    checked, report = split(
        con,
        relation,
        rules,
        passed=names[0],
        quarantined=names[1],
        resolve=resolve,
        table_name=table_name,
    )
    try:
        passed, quarantined = (con.sql(f"SELECT * FROM {name}").to_arrow_table() for name in names)
    finally:
        for name in names:
            con.execute(f"DROP VIEW IF EXISTS {name}")
        con.execute(f"DROP TABLE IF EXISTS {checked}")
    return passed, quarantined, report
