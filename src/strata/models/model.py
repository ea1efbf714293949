"""SQL models: one `.sql` file per table, its configuration in a leading TOML comment.

    /* strata
    layer = "silver"
    materialized = "incremental"      # table | incremental
    unique_key = ["dt", "sensor_id"]
    partition_by = ["dt"]
    [[rules]]
    type = "not_null"
    column = "sensor_id"
    severity = "block"
    [metrics]
    complete_rows = "count(*) FILTER (WHERE is_complete)"
    */
    SELECT … FROM bronze.responses

The body is DuckDB SQL with Jinja (`{{ this }}`, `{% if is_incremental() %}`); tables are named
`layer.table` (same pipeline) or `layer.pipeline.table`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strata.errors import ConfigError, unknown_name
from strata.quality import Rule, parse_rules

HEADER = re.compile(r"\A\s*/\*\s*strata\b(?P<config>.*?)\*/", re.DOTALL)
MATERIALIZATIONS = ("table", "incremental")
STRATEGIES = ("merge", "append", "replace_partitions")
LAYERS = ("silver", "gold")
KEYS = {
    "layer",
    "materialized",
    "unique_key",
    "partition_by",
    "incremental_strategy",
    "rules",
    "metrics",
    "description",
    "order_by",
}


@dataclass(frozen=True)
class Model:
    """A parsed model: where it writes, how, and the checks its rows must pass."""

    name: str
    pipeline: str
    layer: str
    sql: str
    path: Path
    materialized: str = "table"
    unique_key: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    incremental_strategy: str = "merge"
    rules: tuple[Rule, ...] = ()
    metrics: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.pipeline}.{self.name}"

    @property
    def table_path(self) -> str:
        return f"{self.layer}/{self.pipeline}/{self.name}"


def _choice(kind: str, value: str, choices: tuple[str, ...], where: Path) -> str:
    if value not in choices:
        raise ConfigError(f"{where}: {unknown_name(kind, value, choices)}")
    return value


def _config(path: Path, text: str) -> tuple[dict[str, Any], str]:
    match = HEADER.match(text)
    if not match:
        raise ConfigError(f"{path}: missing the leading /* strata … */ configuration block")
    try:
        config = tomllib.loads(match.group("config"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: configuration block is not valid TOML: {exc}") from exc
    unknown = set(config) - KEYS
    if unknown:
        bad = sorted(unknown)[0]
        raise ConfigError(f"{path}: {unknown_name('model setting', bad, KEYS)}")
    return config, text[match.end() :].strip()


def load_model(path: Path, pipeline: str) -> Model:
    """Parse one model file."""
    config, body = _config(path, path.read_text())
    materialized = _choice(
        "materialization", config.get("materialized", "table"), MATERIALIZATIONS, path
    )
    strategy = _choice(
        "incremental strategy", config.get("incremental_strategy", "merge"), STRATEGIES, path
    )
    unique_key = tuple(config.get("unique_key", ()))
    if materialized == "incremental" and strategy == "merge" and not unique_key:
        raise ConfigError(f"{path}: an incremental merge model needs a unique_key")
    try:
        rules = tuple(parse_rules(config.get("rules", [])))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return Model(
        name=path.stem,
        pipeline=pipeline,
        layer=_choice("layer", config.get("layer", "silver"), LAYERS, path),
        sql=body,
        path=path,
        materialized=materialized,
        unique_key=unique_key,
        partition_by=tuple(config.get("partition_by", ())),
        incremental_strategy=strategy,
        rules=rules,
        metrics=dict(config.get("metrics", {})),
        description=config.get("description", ""),
    )


def load_models(folder: Path, pipeline: str) -> dict[str, Model]:
    """Every model of a pipeline's `models/` folder, by name."""
    return {p.stem: load_model(p, pipeline) for p in sorted(folder.glob("*.sql"))}
