"""Build one model into its Delta table: render, resolve inputs, check quality, commit.

Inputs carry watermarks: for a bronze input, the last load consumed; for a Delta input, the
version read. They commit with the output, so a rerun after a crash picks up exactly the loads
that were not committed, and a model whose inputs did not change is skipped.

The output never leaves the engine whole: the model's SQL runs once, into the engine-side split
of the quality checks, and the Delta writes read the rows back as a stream of record batches.
Only the metrics and the partition values a write touches are fetched at once.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jinja2
import pyarrow as pa

from strata.catalog import LakeCatalog, TableRef, resolve_reference, resolve_tables
from strata.engines.base import Engine
from strata.errors import ModelError, StrataError
from strata.lake.delta import DeltaTableIO, Watermark
from strata.models.model import Model
from strata.quality import QualityReport, Relationships, Rule

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
OUTPUT = "__strata_model_output"
PASSED = "__strata_model_passed"
QUARANTINED = "__strata_model_quarantined"


@dataclass
class ModelResult:
    """What building one model did."""

    model: str
    status: str  # built | skipped
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    version: int | None = None
    report: QualityReport | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "report"}
        out["quality"] = self.report.to_dict() if self.report else None
        return out


@dataclass
class _Input:
    ref: TableRef
    watermark: int
    changed: bool
    rows: int


def render(model: Model, incremental: bool, variables: dict[str, Any] | None = None) -> str:
    """The model's SQL with its Jinja evaluated."""
    try:
        template = _JINJA.from_string(model.sql)
        return template.render(
            this=model.qualified_name, is_incremental=lambda: incremental, **(variables or {})
        )
    except jinja2.TemplateError as exc:
        raise ModelError(model.qualified_name, f"template error: {exc}") from exc


def _bind_rules(model: Model, known: list[TableRef]) -> tuple[list[Rule], list[TableRef]]:
    """The model's rules with each relationships rule's `to` (`silver.customer`) replaced by
    the engine relation of that lake table, and the tables those rules need."""
    rules: list[Rule] = []
    lookups: list[TableRef] = []
    for rule in model.rules:
        if isinstance(rule, Relationships):
            ref = resolve_reference(rule.to, known, model.pipeline)
            lookups.append(ref)
            rule = replace(rule, to=ref.relation)
        rules.append(rule)
    return rules, lookups


class ModelBuilder:
    """Builds the models of one pipeline run on one engine."""

    def __init__(
        self,
        engine: Engine,
        catalog: LakeCatalog,
        run_id: str,
        full_refresh: bool = False,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.run_id = run_id
        self.full_refresh = full_refresh
        self.variables = variables or {}

    def build(self, model: Model) -> ModelResult:
        target = DeltaTableIO(self.catalog.lake, model.table_path)
        exists = target.exists()
        incremental = model.materialized == "incremental" and not self.full_refresh and exists
        sql = render(model, incremental, self.variables)
        known = self.catalog.tables()
        try:
            resolved, refs = resolve_tables(sql, known, model.pipeline)
            rules, lookups = _bind_rules(model, known)
        except StrataError as exc:
            raise ModelError(model.qualified_name, str(exc)) from exc
        inputs = [self._register(model, target, ref, incremental) for ref in refs]
        if not self.full_refresh and exists and not any(i.changed for i in inputs):
            return ModelResult(model.qualified_name, "skipped", version=target.version())
        for ref in lookups:
            if ref not in refs:
                self._register_lookup(model, ref)
        return self._execute(model, target, resolved, inputs, incremental, rules)

    def _app_id(self, model: Model, ref: TableRef) -> str:
        return f"{model.qualified_name}<-{ref}"

    def _register(
        self, model: Model, target: DeltaTableIO, ref: TableRef, incremental: bool
    ) -> _Input:
        previous = target.watermark(self._app_id(model, ref))
        if ref.layer == "bronze":
            after = previous if incremental else None
            loads = self.catalog.read_bronze(ref, after)
            self.engine.register(ref.relation, loads.data)
            ids = loads.load_ids
            mark = max(ids) if ids else (previous or 0)
            return _Input(ref, mark, bool(ids) and mark != previous, loads.rows)
        snapshot = self.catalog.delta(ref).snapshot()
        if snapshot is None:
            raise ModelError(model.qualified_name, f"input table {ref} does not exist yet")
        dataset, version = snapshot
        self.engine.register(ref.relation, dataset)
        # A model reading its own table ({{ this }}) must not count its own commits as changes.
        changed = ref.path != model.table_path and version != previous
        return _Input(ref, version, changed, 0)

    def _register_lookup(self, model: Model, ref: TableRef) -> None:
        """A table a relationships rule checks against, registered under its relation name."""
        snapshot = self.catalog.delta(ref).snapshot()
        if snapshot is None:
            raise ModelError(model.qualified_name, f"rule table {ref} does not exist yet")
        self.engine.register(ref.relation, snapshot[0])

    def _execute(
        self,
        model: Model,
        target: DeltaTableIO,
        sql: str,
        inputs: list[_Input],
        incremental: bool,
        rules: list[Rule],
    ) -> ModelResult:
        try:
            return self._build_output(model, target, sql, inputs, incremental, rules)
        finally:
            self.engine.drop(PASSED, QUARANTINED, OUTPUT)

    def _build_output(
        self,
        model: Model,
        target: DeltaTableIO,
        sql: str,
        inputs: list[_Input],
        incremental: bool,
        rules: list[Rule],
    ) -> ModelResult:
        try:
            self.engine.create_view(OUTPUT, sql)
        except ModelError as exc:
            raise ModelError(model.qualified_name, exc.reason) from exc
        # The model's SQL runs here, once; passing and rejected rows stay in the engine.
        report = self.engine.check_quality(
            OUTPUT, rules, model.qualified_name, passed=PASSED, quarantined=QUARANTINED
        )
        metrics = self._metrics(model)
        rejected = None
        if report.quarantined_rows:
            self._quarantine(model, inputs)
            if incremental and model.incremental_strategy == "merge" and model.unique_key:
                # The newest version of these keys was rejected: the merge drops the older,
                # valid version too, as a rebuild from scratch would (idempotent if rerun).
                columns = ", ".join(model.unique_key)
                rejected = self._query(
                    model,
                    f"SELECT DISTINCT {columns} FROM {QUARANTINED} "
                    f"EXCEPT SELECT {columns} FROM {PASSED}",
                )
        marks = [
            Watermark(self._app_id(model, i.ref), i.watermark)
            for i in inputs
            if i.ref.path != model.table_path
        ]
        meta = {"strata.run_id": self.run_id, "strata.model": model.qualified_name}
        self._write(model, target, report.passed_rows, marks, meta, incremental, rejected)
        return ModelResult(
            model=model.qualified_name,
            status="built",
            rows_in=sum(i.rows for i in inputs) or report.total_rows,
            rows_out=report.passed_rows,
            quarantined=report.quarantined_rows,
            version=target.version(),
            report=report,
            metrics=metrics,
        )

    def _query(self, model: Model, sql: str) -> pa.Table:
        try:
            return self.engine.query(sql)
        except ModelError as exc:
            raise ModelError(model.qualified_name, exc.reason) from exc

    def _stream(self, model: Model, sql: str) -> pa.RecordBatchReader:
        try:
            return self.engine.stream(sql)
        except ModelError as exc:
            raise ModelError(model.qualified_name, exc.reason) from exc

    def _metrics(self, model: Model) -> dict[str, Any]:
        if not model.metrics:
            return {}
        select = ", ".join(f"{expr} AS {name}" for name, expr in model.metrics.items())
        row = self._query(model, f"SELECT {select} FROM {PASSED}").to_pylist()[0]
        # DECIMAL results (e.g. round(…, 2)) become floats so the run history stays JSON.
        return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}

    def _partitions(self, model: Model, relation: str) -> pa.Table | None:
        """The distinct partition values in `relation` (few rows), None when unpartitioned."""
        if not model.partition_by:
            return None
        columns = ", ".join(model.partition_by)
        return self._query(model, f"SELECT DISTINCT {columns} FROM {relation}")

    def _write(
        self,
        model: Model,
        target: DeltaTableIO,
        rows: int,
        marks: list[Watermark],
        meta: dict[str, Any],
        incremental: bool,
        rejected: pa.Table | None = None,
    ) -> None:
        partition_by = list(model.partition_by)
        whole = model.materialized == "table" or not incremental
        if (whole or model.incremental_strategy == "append") and self._commit_files(
            model, target, "overwrite" if whole else "append", marks, meta
        ):
            return
        if whole:
            target.overwrite(
                self._stream(model, f"SELECT * FROM {PASSED}"), partition_by, marks, meta
            )
        elif model.incremental_strategy == "merge":
            partitions = self._partitions(model, PASSED) if rows else None
            data = self._stream(model, f"SELECT * FROM {PASSED}")
            target.merge(
                data, list(model.unique_key), partition_by, marks, meta, partitions, rejected
            )
        elif model.incremental_strategy == "replace_partitions":
            partitions = self._partitions(model, PASSED)
            data = self._stream(model, f"SELECT * FROM {PASSED}")
            target.replace_partitions(data, partition_by, marks, meta, partitions)
        else:
            target.append(self._stream(model, f"SELECT * FROM {PASSED}"), partition_by, marks, meta)

    def _commit_files(
        self,
        model: Model,
        target: DeltaTableIO,
        mode: str,
        marks: list[Watermark],
        meta: dict[str, Any],
    ) -> bool:
        """Commit the engine's own Parquet files when it writes them (Spark) and the table
        takes them as they are; False (nothing done) when the rows must be streamed."""
        if not self.engine.writes_files:
            return False
        schema = self._query(model, f"SELECT * FROM {PASSED} LIMIT 0").schema
        partition_by = list(model.partition_by)
        if not target.takes_files(schema, partition_by):
            return False
        folder = f"{target.uri}/strata-{self.run_id}-{uuid.uuid4().hex[:8]}"
        try:
            files = self.engine.write_files(f"SELECT * FROM {PASSED}", folder, partition_by)
            target.commit_files(files, schema, mode, partition_by, marks, meta)
        except ModelError as exc:
            shutil.rmtree(folder, ignore_errors=True)  # files no commit refers to
            raise ModelError(model.qualified_name, exc.reason) from exc
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return True

    def _quarantine(self, model: Model, inputs: list[_Input]) -> None:
        """Rejected rows, with the rules that rejected them, replacing this batch's share."""
        batch = max((i.watermark for i in inputs), default=0)
        stamps = {
            "_run_id": pa.scalar(self.run_id, pa.string()),
            "_batch": pa.scalar(batch, pa.int64()),
            "_quarantined_at": pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC")),
        }
        rows = _stamped(self._stream(model, f"SELECT * FROM {QUARANTINED}"), stamps)
        partitions = pa.table({"_batch": pa.array([batch], pa.int64())})
        path = f"quarantine/{model.pipeline}/{model.name}"
        DeltaTableIO(self.catalog.lake, path).replace_partitions(
            rows, ["_batch"], partitions=partitions
        )


def _stamped(reader: pa.RecordBatchReader, stamps: dict[str, pa.Scalar]) -> pa.RecordBatchReader:
    """`reader` with a constant column appended per entry of `stamps`, batch by batch."""
    schema = reader.schema
    for name, value in stamps.items():
        schema = schema.append(pa.field(name, value.type))

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            constants = [pa.repeat(value, batch.num_rows) for value in stamps.values()]
            yield pa.RecordBatch.from_arrays([*batch.columns, *constants], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())
