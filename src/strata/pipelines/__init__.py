"""The pipeline registry: reference pipelines plus any registered by entry point.

A pipeline module exposes `NAME`, `DESCRIPTION`, `Options` (a pydantic model of its settings)
and `build(options) -> Pipeline`, with its SQL models in a `models/` folder beside it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

from strata.errors import ConfigError, unknown_name
from strata.models.model import Model, load_models
from strata.runner.pipeline import Pipeline
from strata.secrets import resolve_all

_REGISTRY: dict[str, str] = {
    "shopease": "strata.pipelines.shopease.pipeline",
    "retail_marts": "strata.pipelines.retail_marts.pipeline",
    "smartsensor": "strata.pipelines.smartsensor.pipeline",
    "totesys": "strata.pipelines.totesys.pipeline",
    "weather_sales": "strata.pipelines.weather_sales.pipeline",
}


def register_pipeline(name: str, module: str) -> None:
    """Make a pipeline module available to `strata run NAME`."""
    _REGISTRY[name] = module


def _discover() -> dict[str, str]:
    found = dict(_REGISTRY)
    for entry in entry_points(group="strata.pipelines"):
        found.setdefault(entry.name, entry.value)
    return found


def pipeline_names() -> list[str]:
    return sorted(_discover())


@dataclass(frozen=True)
class PipelineSpec:
    """A loaded pipeline definition."""

    name: str
    description: str
    module: ModuleType

    @property
    def models_dir(self) -> Path:
        return Path(self.module.__file__ or ".").parent / "models"

    def options(self, values: dict[str, Any]) -> BaseModel:
        """The pipeline's options from `values`; secret references (`env:`, `fernet:`,
        `aws-sm:`, see `strata.secrets`) are resolved here, as the options are used."""
        try:
            options: BaseModel = self.module.Options(**resolve_all(values))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"pipeline {self.name}: option {where!r}: {first['msg']}") from exc
        return options

    def build(self, options: BaseModel) -> Pipeline:
        pipeline: Pipeline = self.module.build(options)
        return pipeline

    def models(self) -> dict[str, Model]:
        return load_models(self.models_dir, self.name) if self.models_dir.is_dir() else {}


def get_pipeline(name: str) -> PipelineSpec:
    """The pipeline called `name`, or a ConfigError listing the ones that exist."""
    known = _discover()
    if name not in known:
        raise unknown_name("pipeline", name, known)
    module = importlib.import_module(known[name])
    return PipelineSpec(name, getattr(module, "DESCRIPTION", ""), module)
