"""The engine extension point: register inputs, run SQL, give Arrow back.

Pipelines never name an engine; the runner picks one from settings (`--engine`). Capabilities
are data on the class, not branches in callers.

Model outputs can be far larger than memory, so a build keeps them inside the engine: the model's
SQL becomes a named relation (`create_view`), `check_quality` reads it once into engine-side
`passed` and `quarantined` relations, and writers pull the rows with `stream`. Only small results
(metrics, partition values, `strata query`) come back whole through `query`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeAlias

import pyarrow as pa
import pyarrow.dataset as ds

from strata.errors import unknown_name
from strata.lake.delta import DataFile
from strata.quality import QualityReport, Rule

if TYPE_CHECKING:
    from strata.config import Settings

Relation: TypeAlias = pa.Table | ds.Dataset | pa.RecordBatchReader

BatchFn = Callable[[pa.RecordBatch], pa.RecordBatch]
"""A Python step's batch function: one Arrow record batch in, one out."""

STREAM_BATCH_ROWS = 32_768
"""Rows per record batch of `Engine.stream` unless the caller asks otherwise."""


class Engine(ABC):
    """Runs SQL models over Arrow inputs."""

    name: ClassVar[str]
    dialect: ClassVar[str]
    runs_python_udfs: ClassVar[bool] = False
    writes_files: ClassVar[bool] = False
    """Whether `write_files` can put a result's Parquet files straight into a table folder."""

    @abstractmethod
    def register(self, relation: str, data: Relation) -> None:
        """Make `data` queryable as `relation` for this session."""

    @abstractmethod
    def query(self, sql: str) -> pa.Table:
        """Run SQL written in the DuckDB dialect and return the whole result as Arrow.

        For small results only: everything is held in memory at once (see `stream`).
        """

    @abstractmethod
    def create_view(self, relation: str, sql: str) -> None:
        """Name the query `sql` (DuckDB dialect) `relation` for this session, without running it.

        Errors in the SQL that can be found without reading data (unknown tables or columns)
        raise ModelError here. Replaces an existing relation of that name.
        """

    @abstractmethod
    def stream(self, sql: str, batch_rows: int = STREAM_BATCH_ROWS) -> pa.RecordBatchReader:
        """Run `sql` and hand its rows over as record batches, produced as they are read.

        Memory stays bounded by a few batches whatever the result size. Read the reader to
        the end (or drop it) before the next call on this engine.
        """

    @abstractmethod
    def check_quality(
        self, relation: str, rules: list[Rule], table: str, *, passed: str, quarantined: str
    ) -> QualityReport:
        """Check every row of `relation` once and split them into two engine-side relations.

        `passed` holds the rows no block rule failed, with `_quality_warnings` (the failed warn
        rules, comma-separated, NULL when none) when a rule has severity warn; `quarantined` the
        others, with `_quality_failed_rules`. Neither is fetched: read them with `query` or
        `stream`, and `drop` them when done. `table` names the table in the report and errors.
        Raises QualityCheckFailed when a block rule fails beyond its threshold (nothing is left
        behind then) and ModelError when `relation` itself fails to run.
        """

    @abstractmethod
    def map_batches(self, source: str, target: str, fn: BatchFn, schema: pa.Schema) -> None:
        """`target` = `fn` applied to every record batch of `source` (a step written in Python).

        `fn` gets and returns Arrow record batches; `schema` is what it returns. The rows do
        not pass through the driver on an engine with workers (Spark: `mapInArrow`), and are
        never all in memory at once. `fn` must be importable where it runs (a module-level
        function of an installed package on a cluster).
        """

    def write_files(self, sql: str, folder: str, partition_by: list[str]) -> list[DataFile]:
        """Write the result of `sql` as Parquet files under `folder` (a subfolder of a Delta
        table) for `DeltaTableIO.commit_files`, columns typed as `stream` would give them.
        Only for engines with `writes_files`."""
        raise NotImplementedError(f"the {self.name} engine does not write files itself")

    @abstractmethod
    def drop(self, *relations: str) -> None:
        """Forget relations of this session and free what they hold; unknown names are ignored."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the session."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


EngineFactory = Callable[["Settings"], Engine]
_ENGINES: dict[str, EngineFactory] = {}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make an engine available by name; `factory` opens a session for the given settings."""
    _ENGINES[name] = factory


def get_engine(name: str, settings: Settings | None = None) -> Engine:
    """A new engine session by name (`duckdb`, or `spark` when its extra is installed)."""
    if name not in _ENGINES:
        raise unknown_name("engine", name, _ENGINES)
    from strata.config import Settings

    return _ENGINES[name](settings or Settings.model_validate({}))


def engine_names() -> list[str]:
    return sorted(_ENGINES)
