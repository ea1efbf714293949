"""The engine extension point: register inputs, run SQL, give Arrow back.

Pipelines never name an engine; the runner picks one from settings (`--engine`). Capabilities
are data on the class, not branches in callers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeAlias

import pyarrow as pa
import pyarrow.dataset as ds

from strata.errors import unknown_name
from strata.quality import QualityReport, Rule

Relation: TypeAlias = pa.Table | ds.Dataset | pa.RecordBatchReader


class Engine(ABC):
    """Runs SQL models over Arrow inputs."""

    name: ClassVar[str]
    dialect: ClassVar[str]
    runs_python_udfs: ClassVar[bool] = False

    @abstractmethod
    def register(self, relation: str, data: Relation) -> None:
        """Make `data` queryable as `relation` for this session."""

    @abstractmethod
    def query(self, sql: str) -> pa.Table:
        """Run SQL written in the DuckDB dialect and return the result as Arrow."""

    @abstractmethod
    def check_quality(
        self, relation: str, rules: list[Rule], table: str
    ) -> tuple[pa.Table, pa.Table, QualityReport]:
        """Split `relation` into passing and quarantined rows, with a report."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the session."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


EngineFactory = Callable[..., Engine]
_ENGINES: dict[str, EngineFactory] = {}


def register_engine(name: str, factory: EngineFactory) -> None:
    _ENGINES[name] = factory


def get_engine(name: str, **options: Any) -> Engine:
    """A new engine session by name (`duckdb`, or `spark` when its extra is installed)."""
    if name not in _ENGINES:
        raise unknown_name("engine", name, _ENGINES)
    return _ENGINES[name](**options)


def engine_names() -> list[str]:
    return sorted(_ENGINES)
