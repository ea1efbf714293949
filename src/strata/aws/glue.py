"""AWS Glue job entry points: one script per Spark step, run with Glue job arguments.

A Glue job runs one step of one pipeline (`run_glue_job`), the same step `strata run` runs,
reading what it needs from the lake and writing its tables there. Glue passes job arguments as
`--NAME value`; `write_job_scripts` writes the small script a Glue job points at, one per engine
step (`<pipeline>_<step>.py`). Deployment and what differs on real Glue: docs/glue.md.

    python -m strata.aws.glue smartsensor refine --JOB_NAME j --lake s3://bucket/lake
    python -m strata.aws.glue --write-scripts glue_scripts/ [PIPELINE ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from strata.config import Settings, load_settings
from strata.errors import ConfigError, StrataError, unknown_name
from strata.runner import Pipeline, RunRecord, RunStore, new_run_id
from strata.runner.lake_state import lake_state

log = logging.getLogger("strata.aws.glue")

REQUIRED = ("JOB_NAME", "lake")
OPTIONAL = (
    "run_id",
    "env",
    "config",
    "start_date",
    "end_date",
    "full_refresh",
    "engine",
    "s3_endpoint_url",
    "aws_region",
    "state_dir",
    "state_in_lake",
    "workers",
)
OPTION_PREFIX = "option_"
"""`--option_<name> value` sets the pipeline option `<name>` (scalar values only)."""
GLUE_IDS = ("JOB_ID", "JOB_RUN_ID")
"""What Glue itself passes and `resolve_options` returns when present."""
DEFAULT_ENGINE = "spark"

ARGUMENTS: dict[str, str] = {
    "JOB_NAME": "set by Glue (required)",
    "lake": "lake URI: s3://bucket/prefix or a local folder (required)",
    "run_id": "the run's id (default: Glue's JOB_RUN_ID, else a new id)",
    "env": "profile: dev or prod (default: STRATA_ENV, else dev)",
    "config": "path of strata.toml (default: STRATA_CONFIG, else the nearest strata.toml)",
    "start_date": "first day, YYYY-MM-DD",
    "end_date": "last day, YYYY-MM-DD",
    "full_refresh": "true or false (default false): ignore checkpoints and rebuild",
    "engine": "spark (default) or duckdb",
    "s3_endpoint_url": "S3 endpoint override (MinIO, LocalStack, moto)",
    "aws_region": "the bucket's region when the environment has no AWS_REGION",
    "state_dir": "folder of the run history and lease (on Glue: under /tmp)",
    "state_in_lake": "true or false: keep the state database in the lake between jobs",
    "workers": "DuckDB threads; Spark runs local[workers] on the driver",
    "option_<name>": "a pipeline option, e.g. --option_lookback_days 3",
}
"""Every job argument with a one-line description (script docstrings, `--help`)."""

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


class GlueJobFailed(StrataError):
    """The step a Glue job ran failed; `record` is the run's record (its error, metrics)."""

    def __init__(self, pipeline: str, step: str, record: RunRecord) -> None:
        self.pipeline = pipeline
        self.step = step
        self.record = record
        super().__init__(f"{pipeline}: {_first_line(record.error or f'step {step!r} failed')}")


# -- arguments -------------------------------------------------------------------------------


def _given(argv: Sequence[str], name: str) -> bool:
    flag = f"--{name}"
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"Glue job arguments: {message}")


def _parse(argv: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    """What getResolvedOptions does without awsglue: argparse, unknown arguments ignored."""
    parser = _Parser(add_help=False, allow_abbrev=False)
    for name in dict.fromkeys((*names, *GLUE_IDS)):
        parser.add_argument(f"--{name}", dest=name)
    parsed, _unknown = parser.parse_known_args(list(argv))
    return vars(parsed)


def resolve_options(
    argv: Sequence[str], names: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, str]:
    """Glue job arguments by name, parsed the way `awsglue.utils.getResolvedOptions` does.

    `argv` holds the arguments without the script name (`sys.argv[1:]`). `--NAME value` and
    `--NAME=value` both work, and arguments nobody asked for (Glue's own `--TempDir`,
    `--job-bookmark-option`, `--enable-metrics`, ...) are ignored. Every name in `names` is
    required (a ConfigError names the missing ones); names in `optional` are returned when given,
    and Glue's `JOB_ID` and `JOB_RUN_ID` when Glue passed them. On Glue, where awsglue is
    importable, the real getResolvedOptions does the parsing.
    """
    args = list(argv)
    missing = [f"--{name}" for name in names if not _given(args, name)]
    if missing:
        raise ConfigError(f"missing Glue job argument(s): {', '.join(missing)}")
    wanted = list(dict.fromkeys((*names, *(n for n in optional if _given(args, n)))))
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        resolved = _parse(args, wanted)
    else:
        try:
            # getResolvedOptions skips argv[0] (the script), as it is given sys.argv on Glue.
            resolved = dict(getResolvedOptions(["glue_job", *args], wanted))
        except Exception as exc:  # GlueArgumentError, or RuntimeError for reserved names
            raise ConfigError(f"Glue job arguments: {exc}") from exc
    keep = {*wanted, *GLUE_IDS}
    return {k: v for k, v in resolved.items() if k in keep and isinstance(v, str)}


@dataclass(frozen=True)
class GlueJobArgs:
    """The job arguments of a Strata Glue job, validated."""

    job_name: str
    lake: str
    run_id: str
    engine: str = DEFAULT_ENGINE
    profile: str | None = None
    config: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    full_refresh: bool = False
    s3_endpoint_url: str | None = None
    aws_region: str | None = None
    state_dir: str | None = None
    state_in_lake: bool | None = None
    workers: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--{name} {value!r} is not a date (YYYY-MM-DD)") from None


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"--{name} {value!r}: use true or false")


def parse_job_args(argv: Sequence[str]) -> GlueJobArgs:
    """Read and check a Strata Glue job's arguments (an empty value counts as not given)."""
    from strata.engines import engine_names

    flags = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    options = sorted(f for f in flags if f.startswith(OPTION_PREFIX) and f != OPTION_PREFIX)
    raw = resolve_options(argv, REQUIRED, (*OPTIONAL, *options))
    given = {k: v.strip() for k, v in raw.items() if v.strip()}
    missing = [f"--{name}" for name in REQUIRED if name not in given]
    if missing:
        raise ConfigError(f"empty Glue job argument(s): {', '.join(missing)}")
    run_id = given.get("run_id") or given.get("JOB_RUN_ID") or new_run_id()
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigError(
            f"run id {run_id!r}: use up to 128 letters, digits, '_', '.' or '-' "
            "(it names files in the lake)"
        )
    engine = given.get("engine", DEFAULT_ENGINE)
    if engine not in engine_names():
        raise unknown_name("engine", engine, engine_names())
    start, end = (
        _day(given.get("start_date"), "start_date"),
        _day(given.get("end_date"), "end_date"),
    )
    if start and end and start > end:
        raise ConfigError(f"--start_date {start} is after --end_date {end}")
    return GlueJobArgs(
        job_name=given["JOB_NAME"],
        lake=given["lake"],
        run_id=run_id,
        engine=engine,
        profile=given.get("env"),
        config=given.get("config"),
        start_date=start,
        end_date=end,
        full_refresh=_flag(given.get("full_refresh"), "full_refresh"),
        s3_endpoint_url=given.get("s3_endpoint_url"),
        aws_region=given.get("aws_region"),
        state_dir=given.get("state_dir"),
        state_in_lake=(
            _flag(given["state_in_lake"], "state_in_lake") if "state_in_lake" in given else None
        ),
        workers=given.get("workers"),
        options={name[len(OPTION_PREFIX) :]: given[name] for name in options if name in given},
    )


def job_settings(args: GlueJobArgs, pipeline: str) -> Settings:
    """Settings as `strata run` builds them, with the job arguments on top."""
    settings = load_settings(
        profile=args.profile,
        config_file=Path(args.config) if args.config else None,
        lake=args.lake,
        state_dir=args.state_dir,
        state_in_lake=args.state_in_lake,
        s3_endpoint_url=args.s3_endpoint_url,
        aws_region=args.aws_region,
        workers=args.workers,
    )
    if args.options:
        merged = {**settings.pipeline_options(pipeline), **args.options}
        settings = settings.model_copy(
            update={"pipelines": {**settings.pipelines, pipeline: merged}}
        )
    return settings


# -- running ---------------------------------------------------------------------------------


def run_glue_job(pipeline: str, step: str, argv: Sequence[str] | None = None) -> RunRecord:
    """Run one step of `pipeline` with Glue job arguments (default: `sys.argv[1:]`).

    Returns the run's record when the step succeeded (or was partial: it ran, with warnings).
    Raises GlueJobFailed when it failed, ConfigError for bad arguments, and what
    `run_pipeline` raises (LeaseHeld, StorageError for a lake it cannot open).
    """
    args = parse_job_args(sys.argv[1:] if argv is None else argv)
    settings = job_settings(args, pipeline)
    with lake_state(settings, pipeline):  # --state_in_lake true: the state from the lake
        return _run_job(pipeline, step, args, settings)


def _run_job(pipeline: str, step: str, args: GlueJobArgs, settings: Settings) -> RunRecord:
    from strata.session import run_pipeline

    if RunStore(settings.state_path).run(args.run_id) is not None:
        raise ConfigError(
            f"run id {args.run_id!r} is already in the run history ({settings.state_path}); "
            "give each job run its own --run_id (Glue's JOB_RUN_ID is)"
        )
    log.info(
        "glue job %s: %s.%s, run %s, engine %s, lake %s",
        args.job_name,
        pipeline,
        step,
        args.run_id,
        args.engine,
        settings.lake,
    )
    record = run_pipeline(
        pipeline,
        settings=settings,
        engine=args.engine,
        full_refresh=args.full_refresh,
        start_date=args.start_date,
        end_date=args.end_date,
        steps=[step],
        run_id=args.run_id,
    )
    if record.status == "failed":
        raise GlueJobFailed(pipeline, step, record)
    step_metrics = record.metrics.get(step, {})
    log.log(
        logging.WARNING if record.status == "partial" else logging.INFO,
        "glue job %s: %s.%s run %s %s in %.1fs, rows in %s, rows out %s%s",
        args.job_name,
        pipeline,
        step,
        record.run_id,
        record.status,
        record.duration or 0.0,
        step_metrics.get("rows_in"),
        step_metrics.get("rows_out"),
        f" ({len(record.metrics.get('warnings', []))} warnings)"
        if record.status == "partial"
        else "",
    )
    return record


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def job_main(pipeline: str, step: str, argv: Sequence[str]) -> int:
    """What a generated job script runs: 0 on success (partial included), 1 when the step
    failed, 2 for bad arguments or settings; a failure is one line on stderr."""
    _configure_logging()
    try:
        run_glue_job(pipeline, step, argv)
    except ConfigError as exc:
        print(f"error: {_first_line(str(exc))}", file=sys.stderr)
        return 2
    except StrataError as exc:
        print(f"error: {_first_line(str(exc))}", file=sys.stderr)
        return 1
    return 0


# -- job scripts -----------------------------------------------------------------------------


def _pipeline(name: str) -> Pipeline:
    from strata.pipelines import get_pipeline

    spec = get_pipeline(name)
    return spec.build(spec.options({}))


def spark_steps(pipeline: str) -> list[str]:
    """The steps of `pipeline` that run on the engine: the ones meant to be Glue jobs."""
    return [s.name for s in _pipeline(pipeline).steps if s.runs_on == "engine"]


def _docstring_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', "'''")


def job_script(pipeline: str, step: str) -> str:
    """The text of a standalone Glue job script that runs `step` of `pipeline`."""
    chosen = _pipeline(pipeline).step(step)
    width = max(len(name) for name in ARGUMENTS) + 4
    lines = [f'"""AWS Glue job: step {step!r} of the Strata pipeline {pipeline!r}.', ""]
    if chosen.description:
        lines += [_docstring_text(chosen.description), ""]
    lines.append("Job arguments (Glue passes them as --NAME value):")
    lines += [f"  {'--' + name:<{width}}{text}" for name, text in ARGUMENTS.items()]
    lines += [
        "",
        "Generated by strata.aws.glue.write_job_scripts; see docs/glue.md.",
        '"""',
        "",
        "import sys",
        "",
        "from strata.aws.glue import job_main",
        "",
        'if __name__ == "__main__":',
        f"    code = job_main({json.dumps(pipeline)}, {json.dumps(step)}, sys.argv[1:])",
        "    if code:  # on success the script simply ends: Glue reads that as SUCCEEDED",
        "        sys.exit(code)",
        "",
    ]
    return "\n".join(lines)


def write_job_scripts(out_dir: Path, pipelines: Sequence[str] | None = None) -> list[Path]:
    """Write `<pipeline>_<step>.py` for every engine step of the pipelines (default: all)."""
    from strata.pipelines import pipeline_names

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for pipeline in pipelines or pipeline_names():
        for step in spark_steps(pipeline):
            path = out_dir / f"{pipeline}_{step}.py"
            path.write_text(job_script(pipeline, step))
            written.append(path)
    return written


USAGE = """\
usage: python -m strata.aws.glue PIPELINE STEP --JOB_NAME NAME --lake URI [--NAME VALUE ...]
       python -m strata.aws.glue --write-scripts DIR [PIPELINE ...]

job arguments:
"""


def _usage() -> str:
    width = max(len(name) for name in ARGUMENTS) + 4
    return USAGE + "\n".join(f"  {'--' + n:<{width}}{t}" for n, t in ARGUMENTS.items())


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m strata.aws.glue PIPELINE STEP --JOB_NAME ... --lake ...` (or --write-scripts)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(_usage())
        return 0
    if args[:1] == ["--write-scripts"]:
        if len(args) < 2:
            print(_usage(), file=sys.stderr)
            return 2
        try:
            paths = write_job_scripts(Path(args[1]), args[2:] or None)
        except StrataError as exc:
            print(f"error: {_first_line(str(exc))}", file=sys.stderr)
            return 2
        for path in paths:
            print(path)
        return 0
    if len(args) < 2 or args[0].startswith("-") or args[1].startswith("-"):
        print(_usage(), file=sys.stderr)
        return 2
    return job_main(args[0], args[1], args[2:])


if __name__ == "__main__":
    sys.exit(main())
