"""The warehouse contract, schema-evolution planning and the load algorithm shared by backends.

Every load follows the same steps (:meth:`Warehouse.load`):

1. normalize the Arrow data (:class:`~strata.sinks.types.NormalizedData`);
2. read the target's columns and primary key, and *plan* the schema change
   (:func:`plan_schema`): create the table, add missing columns, widen types safely, or refuse
   an unsafe change with :class:`~strata.errors.WarehouseError` before touching anything;
3. bulk-load the data into a session-private staging table (the backend's fastest path);
4. check the staged keys (no NULLs), apply the planned DDL, then move the rows from the stage
   into the target with one ``INSERT … SELECT`` (append), ``DELETE`` + ``INSERT`` (replace) or an
   upsert (merge, last row wins for a key that repeats in the batch), and commit.

A backend may skip the stage (:meth:`Warehouse._loads_directly`): PostgreSQL bulk-loads an
append or a replace straight into the target when the data's types already are the target's
(see :mod:`strata.sinks.postgres`), with the same all-or-nothing transaction around it.

On PostgreSQL and DuckDB steps 2-4 run in one transaction, DDL included, so any failure leaves
the target exactly as it was. MySQL commits DDL implicitly; its backend therefore validates the
staged data before the DDL and runs only the data change in the transaction (see
:mod:`strata.sinks.mysql`).
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Literal, get_args

import pyarrow as pa
from sqlglot import exp as sql_exp

from strata.db.urls import DatabaseUrl, redact
from strata.errors import ConfigError, DatabaseUnavailable, StrataError, WarehouseError
from strata.sinks.types import SEQ_COLUMN, NormalizedData, SqlType, UnsupportedType, sql_type_of
from strata.sinks.types import unify as unify_types

Mode = Literal["append", "replace", "merge"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass
class LoadResult:
    """What one :meth:`Warehouse.load` did.

    `rows` is the number of rows in the batch. `inserted`/`updated` count target rows (a key
    repeated within a merge batch counts once); None when the backend cannot tell cheaply.
    """

    table: str
    mode: str
    rows: int
    inserted: int | None
    updated: int | None
    columns_added: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (run reports, CLI output)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TableRef:
    """A target table: its namespace (PostgreSQL/DuckDB schema, MySQL database) and name."""

    namespace: str
    name: str

    @property
    def label(self) -> str:
        """How the table is named in messages."""
        return f"{self.namespace}.{self.name}"


@dataclass
class ExistingTable:
    """The target's current columns (name → type, in table order) and primary key."""

    columns: dict[str, SqlType]
    primary_key: list[str]


@dataclass(frozen=True)
class ColumnPlan:
    """One data column: its name in the stage, in the table, its stored type after the load."""

    source: str
    target: str
    type: SqlType
    key: bool = False  # part of the table's primary key


@dataclass
class SchemaPlan:
    """What a load changes in the target's schema, decided before anything is written."""

    create: bool
    columns: list[ColumnPlan]
    adds: list[ColumnPlan] = field(default_factory=list)
    widen: list[tuple[ColumnPlan, SqlType]] = field(default_factory=list)  # (column, old type)

    @property
    def keys(self) -> list[ColumnPlan]:
        """The primary-key columns among the data's columns."""
        return [c for c in self.columns if c.key]

    @property
    def columns_added(self) -> list[str]:
        """Names of the columns a load adds to an existing table."""
        return [c.target for c in self.adds]


class Dialect(ABC):
    """How one database names, renders and stores types and identifiers."""

    quote_char: ClassVar[str] = '"'
    max_identifier: ClassVar[int | None] = None
    case_insensitive: ClassVar[bool] = False
    max_decimal: ClassVar[tuple[int, int]] = (1000, 1000)  # (precision, scale)

    def quote(self, name: str) -> str:
        """`name` as a quoted identifier (embedded quote characters doubled)."""
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def table(self, ref: TableRef) -> str:
        """The quoted, qualified table name."""
        return f"{self.quote(ref.namespace)}.{self.quote(ref.name)}"

    def fold(self, name: str) -> str:
        """The form under which the database compares identifiers."""
        return name.lower() if self.case_insensitive else name

    def check_identifier(self, name: str, what: str) -> None:
        """ConfigError for a name the database would reject or silently truncate."""
        if not name:
            raise ConfigError(f"empty {what} name")
        limit = self.max_identifier
        if limit is not None and self.identifier_length(name) > limit:
            raise ConfigError(f"{what} name {name!r} is too long for the database (max {limit})")

    def identifier_length(self, name: str) -> int:
        """The length the database limits (bytes for PostgreSQL)."""
        return len(name.encode())

    @abstractmethod
    def render(self, t: SqlType) -> str:
        """The DDL type for `t` (`t` as returned by :meth:`store`)."""

    @abstractmethod
    def parse(self, raw: str) -> SqlType:
        """The neutral type of a column the catalog describes as `raw`."""

    def store(self, t: SqlType, key: bool) -> SqlType:
        """The type the database actually keeps for `t` (a key column if `key`)."""
        return t

    def cast(self, expression: str, t: SqlType) -> str:
        """`expression` converted to `t` in an INSERT … SELECT."""
        return f"CAST({expression} AS {self.render(t)})"

    def limit_violation(self, t: SqlType) -> str | None:
        """Why `t` cannot be stored, or None."""
        precision, scale = self.max_decimal
        size, digits = t.size, t.scale or 0
        if t.family == "decimal" and size is not None and (size > precision or digits > scale):
            return f"DECIMAL({t.size},{t.scale}) exceeds the maximum ({precision},{scale})"
        return None


_SQLGLOT = {"postgresql": "postgres", "mysql": "mysql", "duckdb": "duckdb"}


def plan_schema(
    table: str,
    dialect: Dialect,
    data: pa.Schema,
    existing: ExistingTable | None,
    key: Sequence[str],
    mode: str,
) -> SchemaPlan:
    """Compare the data's schema with the target's and decide the DDL, or refuse.

    Raises ConfigError for a key the data lacks, and WarehouseError (target untouched) for an
    unsafe type change, a merge key that is not the table's primary key, or a type the database
    cannot hold.
    """
    folded = _folded_names(dialect, data.names)
    for name in key:
        if dialect.fold(name) not in folded:
            raise ConfigError(f"key column {name!r} is not in the data for {table}")
    if existing is None:
        keys = {dialect.fold(k) for k in key}
        columns = [_new_column(table, dialect, f, dialect.fold(f.name) in keys) for f in data]
        return SchemaPlan(create=True, columns=columns)
    _check_merge_key(table, dialect, existing, key, mode)
    plan = SchemaPlan(create=False, columns=[])
    current = {dialect.fold(name): (name, t) for name, t in existing.columns.items()}
    primary = {dialect.fold(name) for name in existing.primary_key}
    for f in data:
        match = current.get(dialect.fold(f.name))
        if match is None:
            column = _new_column(table, dialect, f, key=False)
            plan.adds.append(column)
        else:
            is_key = dialect.fold(match[0]) in primary
            column = _evolve_column(table, dialect, f, *match, key=is_key)
            if column.type != match[1]:
                plan.widen.append((column, match[1]))
        plan.columns.append(column)
    return plan


def _folded_names(dialect: Dialect, names: list[str]) -> set[str]:
    folded: set[str] = set()
    for name in names:
        dialect.check_identifier(name, "column")
        if dialect.fold(name) in folded:
            raise ConfigError(f"two data columns are both named {name!r} for the database")
        folded.add(dialect.fold(name))
    return folded


def _check_merge_key(
    table: str, dialect: Dialect, existing: ExistingTable, key: Sequence[str], mode: str
) -> None:
    if mode != "merge":
        return
    if {dialect.fold(k) for k in key} != {dialect.fold(k) for k in existing.primary_key}:
        have = ", ".join(existing.primary_key) or "none"
        raise WarehouseError(
            table,
            f"merge key ({', '.join(key)}) is not the table's primary key ({have}); "
            "an upsert needs the key to be the primary key",
        )


def _stored(table: str, dialect: Dialect, t: SqlType, column: str, key: bool) -> SqlType:
    stored = dialect.store(t, key)
    problem = dialect.limit_violation(stored)
    if problem:
        raise WarehouseError(table, f"column {column!r}: {problem}")
    return stored


def _new_column(table: str, dialect: Dialect, f: pa.Field, key: bool) -> ColumnPlan:
    t = _stored(table, dialect, sql_type_of(f.type), f.name, key)
    return ColumnPlan(f.name, f.name, t, key)


def _evolve_column(
    table: str, dialect: Dialect, f: pa.Field, name: str, old: SqlType, key: bool
) -> ColumnPlan:
    incoming = _stored(table, dialect, sql_type_of(f.type), name, key)
    common = unify_types(old, incoming)
    if common is None:
        raise WarehouseError(
            table,
            f"column {name!r} has type {dialect.render(old)} and the data has "
            f"{dialect.render(incoming)} (Arrow {f.type}); that is not a safe widening, "
            "so nothing was changed",
        )
    return ColumnPlan(f.name, name, _stored(table, dialect, common, name, key), key)


class Warehouse(ABC):
    """A SQL database that Strata loads Arrow data into (see the module docstring).

    Not thread-safe: one load at a time per instance (open one warehouse per thread).
    """

    kind: ClassVar[str]
    dialect: Dialect
    transactional_ddl: ClassVar[bool] = True

    def __init__(self, url: DatabaseUrl, namespace: str) -> None:
        self.url = url
        self.namespace = namespace

    # -- public API -------------------------------------------------------------------------

    def load(
        self,
        table: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        mode: Mode = "merge",
        key: Sequence[str] = (),
        schema: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> LoadResult:
        """Load `data` into `table` (created or evolved as needed); all or nothing.

        mode "append" inserts the rows, "replace" makes them the table's whole content, and
        "merge" upserts them by `key` (required), the last row winning for a repeated key.
        "replace" with `where` ({column: value}) replaces only that slice: the rows matching
        every pair are deleted and `data` inserted, in one transaction (a day of a
        partitioned table, say; rows gone from the slice disappear, which a merge never does).
        `key` also becomes the primary key of a table this load creates. `schema` overrides the
        warehouse's namespace (created if missing).
        """
        started = time.perf_counter()
        keys = [key] if isinstance(key, str) else list(key)
        if mode not in MODES:
            raise ConfigError(f"unknown load mode {mode!r} (choices: {', '.join(MODES)})")
        if mode == "merge" and not keys:
            raise ConfigError(f"merge into {table!r} needs key=[...] (the upsert key)")
        if where and mode != "replace":
            raise ConfigError(f"where= only applies to mode 'replace', not {mode!r}")
        ref = self._ref(table, schema)
        try:
            source = NormalizedData(data)
        except UnsupportedType as exc:
            raise WarehouseError(ref.label, str(exc)) from exc
        try:
            inserted, updated, added = self._load(ref, source, mode, keys, dict(where or {}))
        except Exception as exc:
            raise self._failure(ref, source, exc) from exc
        elapsed = time.perf_counter() - started
        return LoadResult(table, mode, source.rows, inserted, updated, added, elapsed)

    @abstractmethod
    def read(self, sql: str) -> pa.Table:
        """Run a query and return its result as an Arrow table."""

    @abstractmethod
    def tables(self, schema: str | None = None) -> list[str]:
        """Sorted names of the base tables in `schema` (default: the warehouse's namespace)."""

    _conn: Any  # the backend's DB-API connection
    _closed: bool = False

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.url)!r}, namespace={self.namespace!r})"

    # -- the load algorithm -----------------------------------------------------------------

    def _ref(self, table: str, schema: str | None) -> TableRef:
        namespace = schema or self.namespace
        if not namespace:
            raise ConfigError(f"no schema/database to load {table!r} into: put one in the URL")
        self.dialect.check_identifier(namespace, "schema")
        self.dialect.check_identifier(table, "table")
        return TableRef(namespace, table)

    def _load(
        self,
        ref: TableRef,
        source: NormalizedData,
        mode: str,
        key: list[str],
        where: dict[str, Any],
    ) -> tuple[int | None, int | None, list[str]]:
        """Steps 2-4 of the module docstring (or a direct load); rolls back on any failure."""
        stage: str | None = None
        created = False
        if self.transactional_ddl:
            self._begin()
        try:
            self._ensure_namespace(ref.namespace)
            existing = self._describe(ref)
            plan = plan_schema(ref.label, self.dialect, source.data_schema, existing, key, mode)
            if self.transactional_ddl and self._loads_directly(plan, source, mode):
                inserted, updated = self._load_directly(ref, source, plan, mode, where)
            else:
                stage = self._stage(ref, source)
                self._check_stage(ref, stage, plan)
                if not self.transactional_ddl:
                    self._apply_schema(ref, plan)
                    created = plan.create
                    self._begin()
                else:
                    self._apply_schema(ref, plan)
                inserted, updated = self._write(ref, stage, plan, mode, source.rows, where)
                self._drop_stage(stage)
            self._commit()
        except BaseException:
            self._abandon(ref, stage, created)
            raise
        return inserted, updated, plan.columns_added

    def _loads_directly(self, plan: SchemaPlan, source: NormalizedData, mode: str) -> bool:
        """Whether this load skips the stage (only with transactional DDL); default never."""
        return False

    def _load_directly(
        self,
        ref: TableRef,
        source: NormalizedData,
        plan: SchemaPlan,
        mode: str,
        where: dict[str, Any],
    ) -> tuple[int | None, int | None]:
        """Apply `plan` and bulk-load `source` straight into the target, inside the load's
        transaction (committed by the caller), refusing NULL keys as :meth:`_check_stage` does
        for a stage; return (inserted, updated)."""
        raise NotImplementedError(f"{type(self).__name__} always loads through a stage")

    def _abandon(self, ref: TableRef, stage: str | None, created: bool) -> None:
        """Undo a failed load as far as possible (best effort: the original error matters)."""
        with suppress(Exception):
            self._rollback()
        if stage is not None:
            with suppress(Exception):
                self._discard_stage(stage)
        if created:
            with suppress(Exception):
                self._drop_if_empty(ref)

    def _check_stage(self, ref: TableRef, stage: str, plan: SchemaPlan) -> None:
        """Refuse staged data that would violate the primary key's NOT NULL."""
        keys = plan.keys
        if not keys:
            return
        q = self.dialect.quote
        condition = " OR ".join(f"{q(c.source)} IS NULL" for c in keys)
        count = self._scalar(f"SELECT COUNT(*) FROM {stage} WHERE {condition}")
        if count:
            names = ", ".join(c.target for c in keys)
            raise WarehouseError(ref.label, f"{count} row(s) have a NULL key ({names})")

    def _apply_schema(self, ref: TableRef, plan: SchemaPlan) -> None:
        """CREATE TABLE, or the ALTERs that add and widen columns."""
        statements = [self._create_sql(ref, plan)] if plan.create else self._alter_sql(ref, plan)
        for statement in statements:
            self._execute(statement)

    def _create_sql(self, ref: TableRef, plan: SchemaPlan, primary_key: bool = True) -> str:
        """CREATE TABLE for `plan`; without `primary_key` the key columns are only NOT NULL
        (the caller adds the constraint after the bulk load, which builds the index faster)."""
        q, render = self.dialect.quote, self.dialect.render
        parts = [
            f"{q(c.target)} {render(c.type)}{' NOT NULL' if c.key else ''}" for c in plan.columns
        ]
        if plan.keys and primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(q(c.target) for c in plan.keys)})")
        return f"CREATE TABLE {self.dialect.table(ref)} ({', '.join(parts)}){self._table_options()}"

    def _table_options(self) -> str:
        return ""

    def _write(
        self,
        ref: TableRef,
        stage: str,
        plan: SchemaPlan,
        mode: str,
        rows: int,
        where: dict[str, Any],
    ) -> tuple[int | None, int | None]:
        if mode == "merge":
            return self._merge(ref, stage, plan)
        if mode == "replace" and not plan.create:
            self._execute(self._delete_sql(ref, where))
        self._execute(self._insert_sql(ref, stage, plan))
        return rows, 0

    def _delete_sql(self, ref: TableRef, where: dict[str, Any]) -> str:
        """DELETE of the whole table, or of the slice `where` names (values as literals)."""
        statement = f"DELETE FROM {self.dialect.table(ref)}"
        if not where:
            return statement
        q, dialect = self.dialect.quote, _SQLGLOT.get(self.kind, self.kind)
        tests = [
            f"{q(self.dialect.fold(c))} IS NULL"
            if v is None
            else f"{q(self.dialect.fold(c))} = {sql_exp.convert(v).sql(dialect)}"
            for c, v in where.items()
        ]
        return f"{statement} WHERE {' AND '.join(tests)}"

    def _insert_sql(
        self,
        ref: TableRef,
        stage: str,
        plan: SchemaPlan,
        dedupe: bool = False,
        alias: str | None = None,
    ) -> str:
        """INSERT … SELECT from the stage, converting to the target types.

        With `dedupe`, only the last staged row of each key is selected (DISTINCT ON). `alias`
        names the target in the statement (for an ON CONFLICT … WHERE).
        """
        q = self.dialect.quote
        targets = ", ".join(q(c.target) for c in plan.columns)
        values = ", ".join(self.dialect.cast(f"s.{q(c.source)}", c.type) for c in plan.columns)
        target = self.dialect.table(ref) + (f" AS {alias}" if alias else "")
        sql = f"INSERT INTO {target} ({targets}) SELECT"
        if dedupe:
            keys = ", ".join(f"s.{q(c.source)}" for c in plan.keys)
            return (
                f"{sql} DISTINCT ON ({keys}) {values} FROM {stage} AS s "
                f"ORDER BY {keys}, s.{q(SEQ_COLUMN)} DESC"
            )
        return f"{sql} {values} FROM {stage} AS s"

    def _key_counts(self, ref: TableRef, stage: str, plan: SchemaPlan) -> tuple[int, int]:
        """(distinct staged keys, how many of them the target lacks) — before the upsert."""
        q = self.dialect.quote
        keys = ", ".join(q(c.source) for c in plan.keys)
        match = " AND ".join(f"t.{q(c.target)} = s.{q(c.source)}" for c in plan.keys)
        rows = self._query(
            f"SELECT COUNT(*), SUM(CASE WHEN EXISTS (SELECT 1 FROM {self.dialect.table(ref)} "
            f"AS t WHERE {match}) THEN 0 ELSE 1 END) FROM (SELECT DISTINCT {keys} FROM {stage}) "
            "AS s"
        )
        distinct, new = rows[0]
        return int(distinct or 0), int(new or 0)

    def _update_columns(self, plan: SchemaPlan) -> list[ColumnPlan]:
        """The columns an upsert overwrites (all data columns except the key)."""
        return [c for c in plan.columns if not c.key]

    def _scalar(self, sql: str) -> Any:
        return self._query(sql)[0][0]

    def _failure(self, ref: TableRef, source: NormalizedData, exc: Exception) -> Exception:
        """What a failed load raises: the data stream's own error if reading it failed (a
        driver reports it only as a broken stream), a StrataError as it is, else the mapping
        of the driver's error."""
        if source.failure is not None and not isinstance(exc, StrataError):
            if isinstance(source.failure, StrataError):
                return source.failure
            return WarehouseError(ref.label, f"reading the data failed: {source.failure!r}")
        if isinstance(exc, StrataError):
            return exc
        return self._error(ref.label, exc)

    def _error(self, table: str, exc: Exception) -> StrataError:
        """The Strata error for a driver exception raised during a load."""
        reason = redact(self._describe_error(exc))
        if self._is_disconnect(exc):
            return DatabaseUnavailable(str(self.url), reason)
        return WarehouseError(table, reason)

    def _describe_error(self, exc: Exception) -> str:
        return f"{type(exc).__name__}: {exc}"

    def _is_disconnect(self, exc: Exception) -> bool:
        return False

    def _discard_stage(self, stage: str) -> None:  # noqa: B027 - optional hook
        """Remove the stage after a failed load when rolling back does not (MySQL)."""

    def _drop_if_empty(self, ref: TableRef) -> None:  # noqa: B027 - optional hook
        """After a failed first load without transactional DDL: drop the table it created."""

    # -- backend hooks ----------------------------------------------------------------------

    @abstractmethod
    def _execute(self, sql: str) -> None: ...

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def _ensure_namespace(self, namespace: str) -> None: ...

    @abstractmethod
    def _describe(self, ref: TableRef) -> ExistingTable | None:
        """The target's columns and primary key, or None if it does not exist."""

    @abstractmethod
    def _stage(self, ref: TableRef, source: NormalizedData) -> str:
        """Bulk-load `source` into a new session-private table; return its quoted name."""

    @abstractmethod
    def _drop_stage(self, stage: str) -> None: ...

    @abstractmethod
    def _alter_sql(self, ref: TableRef, plan: SchemaPlan) -> list[str]:
        """The statements that add `plan.adds` and widen `plan.widen`."""

    @abstractmethod
    def _merge(self, ref: TableRef, stage: str, plan: SchemaPlan) -> tuple[int | None, int | None]:
        """Upsert the staged rows by the primary key; return (inserted, updated)."""
