"""Typed settings: explicit argument > environment (and `.env`) > `strata.toml` profile > default.

`strata.toml` holds one table per profile (`[profiles.dev]`, `[profiles.prod]`) and a table per
pipeline inside a profile (`[profiles.prod.pipelines.smartsensor]`). Environment variables
`STRATA_<FIELD>` override profile values; `STRATA_<PIPELINE>__<KEY>` overrides a pipeline
option (for example `STRATA_SMARTSENSOR__API_URL`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from strata.errors import ConfigError, unknown_name

PROFILES = ("dev", "prod")
ENV_PREFIX = "STRATA_"


class Settings(BaseModel):
    """Everything a run needs to know about where and how to run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = "dev"
    lake: str = "./lake"
    state_dir: str = ""
    workers: int = Field(2, ge=1, le=256)
    # The engine's working memory before it spills to disk (DuckDB `memory_limit`, e.g. "2GB");
    # empty: 256 MB, at most an eighth of RAM. More is faster on big batches, less is leaner.
    memory_limit: str = ""
    # The default engine of `strata run` (duckdb | spark); `--engine` overrides it per run.
    engine: str = "duckdb"
    # Spark: the master URL ("local[N]" by default, N = workers) and extra Spark conf entries
    # (e.g. {"spark.executor.memory" = "4g"}), for `--engine spark` and the Glue job scripts.
    spark_master: str = ""
    spark_conf: dict[str, str] = Field(default_factory=dict)
    # The default schedule of every pipeline, and per-pipeline ones (strata.runner.schedule).
    schedule: str | None = None
    schedules: dict[str, str] = Field(default_factory=dict)
    log_retention_days: int = Field(7, ge=1)
    data_retention_days: int = Field(90, ge=1)
    checkpoint_store: str = "lake"
    access_logging: bool = False
    lease_ttl_seconds: float = Field(60.0, gt=0)
    # Keep the state database (run history, leases, file ledger, checkpoints) in the lake
    # (`<lake>/_strata/state/<pipeline>.db`), copied in before and out after each task: for
    # runtimes without a lasting disk (Lambda, Glue, containers). See strata.runner.lake_state.
    state_in_lake: bool = False
    s3_endpoint_url: str | None = None
    # Other AWS APIs (SQS, Secrets Manager, Glue) on a local endpoint (moto, LocalStack).
    aws_endpoint_url: str | None = None
    aws_region: str = "eu-central-1"
    pipelines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Failure alert channels (`[[profiles.<env>.alerts]]`, see strata.alerts).
    alerts: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("schedule", "schedules")
    @classmethod
    def _valid_schedules(cls, value: str | dict[str, str] | None) -> Any:
        from strata.runner.schedule import parse_schedule

        for expression in value.values() if isinstance(value, dict) else [value or ""]:
            parse_schedule(expression)
        return value

    @field_validator("alerts")
    @classmethod
    def _known_alert_channels(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from strata.alerts import parse_channels

        parse_channels(value)
        return value

    def pipeline_options(self, name: str) -> dict[str, Any]:
        """The options of one pipeline (profile values, then env overrides)."""
        return dict(self.pipelines.get(name, {}))

    @property
    def state_path(self) -> Path:
        """Where run history and leases live: `state_dir`, else beside a local lake."""
        if self.state_dir:
            return Path(self.state_dir)
        parsed = urlparse(self.lake)
        if parsed.scheme not in ("", "file"):
            return Path(".strata")
        return Path(parsed.path if parsed.scheme else self.lake) / "_strata"


def find_config_file(start: Path | None = None) -> Path | None:
    """`STRATA_CONFIG`, else the nearest `strata.toml` from `start` upwards."""
    explicit = os.environ.get("STRATA_CONFIG")
    if explicit:
        return Path(explicit)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "strata.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_profiles(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return dict(data.get("profiles", {}))


def _environment(dotenv: Path | None) -> dict[str, str]:
    """Process environment over `.env` (a real variable always wins)."""
    values: dict[str, str] = {}
    if dotenv and dotenv.is_file():
        values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    values.update(os.environ)
    return {k: v for k, v in values.items() if k.startswith(ENV_PREFIX)}


def _apply_env(base: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    merged = dict(base)
    pipelines = {k: dict(v) for k, v in merged.get("pipelines", {}).items()}
    for key, value in env.items():
        name = key[len(ENV_PREFIX) :].lower()
        if "__" in name:
            pipeline, option = name.split("__", 1)
            pipelines.setdefault(pipeline, {})[option] = value
        elif name in Settings.model_fields and name not in ("pipelines", "profile"):
            merged[name] = value
    merged["pipelines"] = pipelines
    return merged


def load_settings(
    profile: str | None = None,
    config_file: Path | None = None,
    dotenv: Path | None = Path(".env"),
    **overrides: Any,
) -> Settings:
    """Build settings from defaults, the profile, the environment and explicit overrides.

    `overrides` whose value is None are ignored, so CLI options can be passed straight in.
    """
    env = _environment(dotenv)
    chosen = profile or env.get("STRATA_ENV") or env.get("STRATA_PROFILE") or "dev"
    profiles = _read_profiles(config_file if config_file else find_config_file())
    if chosen not in PROFILES and chosen not in profiles:
        raise unknown_name("profile", chosen, set(PROFILES) | set(profiles))
    values = _apply_env(profiles.get(chosen, {}), env)
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["profile"] = chosen
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where!r} in profile {chosen!r}: {first['msg']}") from exc
