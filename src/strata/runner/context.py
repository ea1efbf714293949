"""What a step receives: the run's identity, settings, lake, engine and progress display."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from strata.runner.pipeline import StepResult

if TYPE_CHECKING:
    # The engines, the lake and the models (pyarrow.dataset, pandas, DuckDB, deltalake) load
    # when a run first uses them, not when `strata.runner` is imported.
    from strata.catalog import LakeCatalog
    from strata.config import Settings
    from strata.engines import Engine
    from strata.lake.bronze import Bronze
    from strata.lake.storage import Lake
    from strata.models.materialize import ModelResult
    from strata.models.model import Model


@dataclass
class RunContext:
    """State shared by the steps of one run."""

    run_id: str
    pipeline: str
    settings: Settings
    lake: Lake
    engine_name: str = "duckdb"
    full_refresh: bool = False
    start_date: date | None = None
    end_date: date | None = None
    options: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    console: Console = field(default_factory=lambda: Console(stderr=True))
    show_progress: bool = True
    outputs: dict[str, Any] = field(default_factory=dict)
    model_results: list[ModelResult] = field(default_factory=list)
    resources: ExitStack = field(default_factory=ExitStack)
    _engine: Engine | None = None

    @property
    def catalog(self) -> LakeCatalog:
        from strata.catalog import LakeCatalog

        return LakeCatalog(self.lake)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from strata.engines import get_engine

            self._engine = get_engine(self.engine_name, self.settings)
        return self._engine

    def bronze(self, entity: str) -> Bronze:
        from strata.lake.bronze import Bronze

        return Bronze(self.lake, self.pipeline, entity)

    def build(self, *names: str) -> StepResult:
        """Build the named SQL models in order; their results join the run report."""
        from strata.models.materialize import ModelBuilder

        builder = ModelBuilder(self.engine, self.catalog, self.run_id, self.full_refresh)
        result = StepResult(rows_in=0, rows_out=0)
        for name in names:
            outcome = builder.build(self.models[name])
            self.model_results.append(outcome)
            result.rows_in = (result.rows_in or 0) + outcome.rows_in
            result.rows_out = (result.rows_out or 0) + outcome.rows_out
            result.metrics[outcome.model] = outcome.to_dict()
        return result

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Progress]:
        """A Rich progress bar for a long step (silent when progress is off)."""
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(
            *columns, console=self.console, disable=not self.show_progress, transient=True
        ) as bar:
            bar.add_task(description, total=total)
            yield bar

    def close(self) -> None:
        """Release the engine and whatever steps opened for the run (servers, clients)."""
        self.resources.close()
        if self._engine is not None:
            self._engine.close()
            self._engine = None
