"""Glue job entry points: Glue-style arguments, generated job scripts, steps run as Glue jobs.

The scripts run as real processes with the arguments Glue passes (its own extras included) on a
local lake; their tables are compared with a whole `run_pipeline` on another lake.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from strata.apis import StubServer
from strata.aws.glue import (
    GlueJobFailed,
    job_settings,
    main,
    parse_job_args,
    resolve_options,
    run_glue_job,
    spark_steps,
    write_job_scripts,
)
from strata.config import Settings
from strata.errors import ConfigError, StorageError
from strata.pipelines import get_pipeline, pipeline_names
from strata.session import describe_run, open_lake, query, run_pipeline
from strata.testing import assert_same_rows
from tests.conftest import make_settings

JAN1, JAN31 = dt.date(2024, 1, 1), dt.date(2024, 1, 31)
VOLATILE = ["processed_at", "ingestion_timestamp"]
TABLES = [
    ("silver.smartsensor.sensor_readings", ("dt", "sensor_id")),
    ("smartsensor.regional_daily", ("region", "dt")),
    ("smartsensor.sensor_monthly", ("sensor_id", "month")),
]
# What Glue adds to every job run besides the job's own arguments.
GLUE_EXTRAS = [
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--TempDir",
    "s3://aws-glue-assets/temporary/",
    "--enable-metrics",
    "--enable-continuous-cloudwatch-log",
    "true",
    "--JOB_ID",
    "j_0123",
]


def glue_args(settings: Settings, tmp_path: Path, **extra: str) -> list[str]:
    """The job arguments of a Strata Glue job on the settings' lake, as Glue passes them."""
    args = {
        "JOB_NAME": "strata-job",
        "lake": settings.lake,
        "state_dir": settings.state_dir,
        "config": str(tmp_path / "strata.toml"),
        "engine": "duckdb",
        "start_date": JAN1.isoformat(),
        "end_date": JAN31.isoformat(),
        **extra,
    }
    flat = [part for name, value in args.items() for part in (f"--{name}", value)]
    return [*flat[:4], *GLUE_EXTRAS, *flat[4:]]


def run_script(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command], cwd=cwd, capture_output=True, text=True, timeout=180
    )


def table(settings: Settings, name: str, keys: tuple[str, ...]) -> pa.Table:
    data = query(f"SELECT * FROM {name} ORDER BY {', '.join(keys)}", settings)
    return data.drop_columns([c for c in VOLATILE if c in data.column_names])


def extracted(tmp_path: Path, api: StubServer) -> Settings:
    """A lake after the driver steps (check, extract): bronze holds January."""
    settings = make_settings(tmp_path, api_url=api.url)
    record = run_pipeline(
        "smartsensor",
        settings=settings,
        steps=["check", "extract"],
        start_date=JAN1,
        end_date=JAN31,
    )
    assert record.status == "succeeded", record.error
    return settings


# -- arguments -------------------------------------------------------------------------------


def test_glue_style_arguments_with_glue_extras_and_equals_form() -> None:
    argv = [
        "--JOB_NAME",
        "nightly",
        "--lake=s3://bucket/lake",
        *GLUE_EXTRAS,
        "--JOB_RUN_ID",
        "jr_42",
        "--env",
        "prod",
        "--end_date=2024-01-31",
    ]
    resolved = resolve_options(argv, ["JOB_NAME", "lake"], ["env", "end_date", "run_id"])
    assert resolved == {
        "JOB_NAME": "nightly",
        "lake": "s3://bucket/lake",
        "env": "prod",
        "end_date": "2024-01-31",
        "JOB_ID": "j_0123",
        "JOB_RUN_ID": "jr_42",
    }
    args = parse_job_args(argv)
    assert (args.job_name, args.lake, args.profile) == ("nightly", "s3://bucket/lake", "prod")
    assert args.run_id == "jr_42"  # Glue's job run id names the run unless --run_id is given
    assert args.engine == "spark"  # Glue is Spark
    assert (args.start_date, args.end_date, args.full_refresh) == (None, JAN31, False)
    explicit = parse_job_args([*argv, "--run_id", "exec-7", "--full_refresh", "TRUE"])
    assert (explicit.run_id, explicit.full_refresh) == ("exec-7", True)
    fresh = parse_job_args(["--JOB_NAME", "j", "--lake", "lake"])
    assert (
        fresh.run_id and fresh.run_id != parse_job_args(["--JOB_NAME", "j", "--lake", "l"]).run_id
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--TempDir", "s3://t/", "--lake", "l"], "missing Glue job argument(s): --JOB_NAME"),
        (["--enable-metrics"], "--JOB_NAME, --lake"),
        (["--JOB_NAME", "j", "--lake="], "empty Glue job argument(s): --lake"),
        (["--JOB_NAME", "j", "--lake", "l", "--start_date", "2024-13-01"], "--start_date"),
        (["--JOB_NAME", "j", "--lake", "l", "--end_date", "20240131"], "--end_date '20240131'"),
        (["--JOB_NAME", "j", "--lake", "l", "--start_date", "yesterday"], "YYYY-MM-DD"),
        (
            ["--JOB_NAME", "j", "--lake", "l", "--start_date=2024-02-01", "--end_date=2024-01-01"],
            "after --end_date",
        ),
        (["--JOB_NAME", "j", "--lake", "l", "--full_refresh", "maybe"], "--full_refresh"),
        (["--JOB_NAME", "j", "--lake", "l", "--engine", "flink"], "unknown engine 'flink'"),
        (["--JOB_NAME", "j", "--lake", "l", "--run_id", "../x"], "run id '../x'"),
        (["--JOB_NAME", "j", "--lake"], "--lake: expected one argument"),
    ],
)
def test_bad_arguments_are_config_errors_naming_the_argument(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_job_args(argv)
    assert message in str(caught.value)


def test_pipeline_options_from_job_arguments(tmp_path: Path) -> None:
    config = tmp_path / "strata.toml"
    config.write_text("[profiles.dev.pipelines.smartsensor]\ndays = 31\nsensors = 4\n")
    args = parse_job_args(
        [
            "--JOB_NAME",
            "j",
            "--lake",
            str(tmp_path / "lake"),
            "--config",
            str(config),
            "--option_sensors=9",
            "--option_lookback_days",
            "3",
            "--workers=4",
            "--aws_region",
            "us-east-1",
        ]
    )
    assert args.options == {"sensors": "9", "lookback_days": "3"}
    settings = job_settings(args, "smartsensor")
    assert (settings.workers, settings.aws_region) == (4, "us-east-1")
    assert settings.pipeline_options("smartsensor") == {
        "days": 31,
        "sensors": "9",
        "lookback_days": "3",
    }
    options = get_pipeline("smartsensor").options(settings.pipeline_options("smartsensor"))
    assert (options.sensors, options.lookback_days, options.days) == (9, 3, 31)  # type: ignore[attr-defined]
    bad = parse_job_args(["--JOB_NAME", "j", "--lake", "l", "--config", str(config), "--workers=0"])
    with pytest.raises(ConfigError, match="setting 'workers'"):
        job_settings(bad, "smartsensor")


def _fake_awsglue() -> types.ModuleType:
    """awsglue.utils as on Glue: argparse over argv[1:], every asked-for name required."""

    class GlueArgumentError(Exception):
        pass

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:
            raise GlueArgumentError(message)

    def get_resolved_options(args: list[str], options: list[str]) -> dict[str, Any]:
        parser = Parser()
        parser.add_argument("--job-bookmark-option", required=False)
        for reserved in ("--JOB_ID", "--JOB_RUN_ID", "--SECURITY_CONFIGURATION", "--TempDir"):
            parser.add_argument(reserved, required=False)
        for option in options:
            parser.add_argument("--" + option, required=True)
        parsed, _extra = parser.parse_known_args(args[1:])
        return vars(parsed) | {"job_bookmark_option": "job-bookmark-disable"}

    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = get_resolved_options  # type: ignore[attr-defined]
    return utils


def test_the_real_get_resolved_options_is_used_when_importable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["--JOB_NAME", "j", *GLUE_EXTRAS, "--lake=s3://b/l", "--run_id", "r1", "--option_x=1"]
    ours = resolve_options(argv, ["JOB_NAME", "lake"], ["run_id", "env", "option_x"])
    monkeypatch.setitem(sys.modules, "awsglue", types.ModuleType("awsglue"))
    monkeypatch.setitem(sys.modules, "awsglue.utils", _fake_awsglue())
    glue = resolve_options(argv, ["JOB_NAME", "lake"], ["run_id", "env", "option_x"])
    assert (
        glue
        == ours
        == {
            "JOB_NAME": "j",
            "lake": "s3://b/l",
            "run_id": "r1",
            "option_x": "1",
            "JOB_ID": "j_0123",
        }
    )
    with pytest.raises(ConfigError, match="--lake"):
        resolve_options(["--JOB_NAME", "j"], ["JOB_NAME", "lake"])


# -- job scripts -----------------------------------------------------------------------------


def test_one_script_per_engine_step_of_every_pipeline(tmp_path: Path) -> None:
    paths = write_job_scripts(tmp_path / "scripts")
    expected = {}
    for name in pipeline_names():
        spec = get_pipeline(name)
        for step in spec.build(spec.options({})).steps:
            if step.runs_on == "engine":
                expected[f"{name}_{step.name}.py"] = (name, step.name)
    assert {"smartsensor_refine.py", "smartsensor_publish.py", "shopease_refine.py"} <= set(
        expected
    )
    assert sorted(p.name for p in paths) == sorted(expected)
    assert spark_steps("smartsensor") == ["refine", "publish"]
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))  # valid Python
        docstring = ast.get_docstring(tree) or ""
        assert "--JOB_NAME" in docstring and "--lake" in docstring
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "job_main"
        ]
        assert len(calls) == 1
        pipeline, step = (ast.literal_eval(arg) for arg in calls[0].args[:2])
        assert (pipeline, step) == expected[path.name]
    assert main(["--write-scripts", str(tmp_path / "one"), "smartsensor"]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "smartsensor_publish.py",
        "smartsensor_refine.py",
    ]
    assert main(["--write-scripts", str(tmp_path / "bad"), "nope"]) == 2
    assert main([]) == 2


# -- running steps as Glue jobs --------------------------------------------------------------


def test_glue_jobs_build_the_same_tables_as_a_whole_run(
    tmp_path: Path, api: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = extracted(tmp_path / "glue", api)
    scripts = tmp_path / "scripts"
    write_job_scripts(scripts, ["smartsensor"])

    # refine: the generated script, as Glue runs it (its own process, Glue's arguments).
    refine_args = glue_args(settings, tmp_path / "glue", run_id="sfn-exec-1-refine")
    done = run_script(str(scripts / "smartsensor_refine.py"), *refine_args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "smartsensor.refine run sfn-exec-1-refine succeeded" in done.stderr

    # publish: run_glue_job in process, its run named by Glue's JOB_RUN_ID.
    monkeypatch.chdir(tmp_path)
    record = run_glue_job(
        "smartsensor",
        "publish",
        glue_args(settings, tmp_path / "glue", JOB_RUN_ID="jr_0f1e2d_attempt_1"),
    )
    assert (record.status, record.run_id) == ("succeeded", "jr_0f1e2d_attempt_1")
    assert record.metrics["publish"]["rows_out"] > 0

    reference = make_settings(tmp_path / "whole", api_url=api.url)
    whole = run_pipeline("smartsensor", settings=reference, start_date=JAN1, end_date=JAN31)
    assert whole.status == "succeeded", whole.error
    for name, keys in TABLES:
        glue_table = table(settings, name, keys)
        assert glue_table.num_rows > 0
        assert_same_rows(glue_table, table(reference, name, keys), keys)
    assert table(settings, TABLES[0][0], TABLES[0][1]).num_rows == 9 * 31

    # Each job is one run in the history and the lake's run reports, under the id it was given.
    for run_id, step in (("sfn-exec-1-refine", "refine"), ("jr_0f1e2d_attempt_1", "publish")):
        described = describe_run(settings, run_id)
        assert described is not None
        run = described["run"]
        assert (run.pipeline, run.status, run.engine) == ("smartsensor", "succeeded", "duckdb")
        assert run.params["start_date"] == "2024-01-01"
        assert [a.step for a in described["attempts"]] == [step]
        report = json.loads(open_lake(settings).read_bytes(f"_runs/smartsensor/{run_id}.json"))
        assert report["run_id"] == run_id
        assert [s["step"] for s in report["steps"]] == [step]
    refine_report = json.loads(
        open_lake(settings).read_bytes("_runs/smartsensor/sfn-exec-1-refine.json")
    )
    assert [m["model"] for m in refine_report["models"]] == ["silver.smartsensor.sensor_readings"]


def test_a_failing_step_fails_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)  # an empty lake: refine has no bronze to read
    monkeypatch.chdir(tmp_path)
    args = glue_args(settings, tmp_path, run_id="r-fail")
    with pytest.raises(GlueJobFailed) as caught:
        run_glue_job("smartsensor", "refine", args)
    assert caught.value.record.status == "failed"
    assert "step 'refine' of run r-fail failed" in str(caught.value)
    assert "bronze.smartsensor.responses" in str(caught.value)
    described = describe_run(settings, "r-fail")
    assert described is not None and described["run"].status == "failed"

    with pytest.raises(ConfigError, match="'r-fail' is already in the run history"):
        run_glue_job("smartsensor", "refine", args)
    with pytest.raises(ConfigError, match="unknown step 'refin'"):
        run_glue_job("smartsensor", "refin", glue_args(settings, tmp_path, run_id="r-2"))
    with pytest.raises(StorageError, match="unsupported lake URI"):
        run_glue_job("smartsensor", "refine", glue_args(settings, tmp_path, lake="hdfs://x/y"))


def _error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


def test_failing_job_scripts_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    write_job_scripts(tmp_path / "scripts", ["shopease"])
    failed = run_script(
        str(tmp_path / "scripts" / "shopease_refine.py"),
        *glue_args(settings, tmp_path, run_id="r1"),
        cwd=tmp_path,
    )
    assert failed.returncode == 1
    [line] = _error_lines(failed)
    assert line.startswith("error: shopease: step 'refine' of run r1 failed: model silver.shopease")

    bad_lake = run_script(
        "-m",
        "strata.aws.glue",
        "smartsensor",
        "refine",
        *glue_args(settings, tmp_path, lake="hdfs://x/y"),
        cwd=tmp_path,
    )
    assert bad_lake.returncode == 1
    assert _error_lines(bad_lake) == [
        "error: unsupported lake URI 'hdfs://x/y': use a folder or s3://bucket/prefix"
    ]


def test_refine_on_spark(tmp_path: Path, api: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("strata.engines.spark")
    settings = extracted(tmp_path, api)
    monkeypatch.chdir(tmp_path)
    args = [a for a in glue_args(settings, tmp_path, run_id="spark-1") if a != "duckdb"]
    args.remove("--engine")  # Glue's default engine: spark
    record = run_glue_job("smartsensor", "refine", args)
    assert (record.status, record.engine) == ("succeeded", "spark"), record.error
    counts = query(
        "SELECT count(*) AS n, count(DISTINCT (dt, sensor_id)) AS k "
        "FROM silver.smartsensor.sensor_readings",
        settings,
    ).to_pylist()
    assert counts == [{"n": 9 * 31, "k": 9 * 31}]
