"""The state database kept in the lake (`state_in_lake`): carried between tasks that start on
empty disks, on moto S3 and on a local lake; a concurrent change is refused, not overwritten."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from strata.config import Settings, load_settings
from strata.runner import RunRecord, RunStore
from strata.runner.lake_state import StateConflict, lake_state, state_object


def settings_for(lake: str, state_dir: Path, tmp_path: Path, **extra: object) -> Settings:
    config = tmp_path / "strata.toml"
    config.touch()
    return load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=lake,
        state_dir=str(state_dir),
        state_in_lake=True,
        **extra,
    )


def record(settings: Settings, run_id: str) -> None:
    RunStore(settings.state_path).start_run(RunRecord(run_id, "p", "succeeded", 1.0))


def runs(settings: Settings) -> list[str]:
    return sorted(r.run_id for r in RunStore(settings.state_path).runs())


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "lake")
    return f"s3://{request.getfixturevalue('s3_bucket')}/lake"


def test_each_task_sees_what_the_ones_before_it_wrote(lake: str, tmp_path: Path) -> None:
    for n in range(3):  # three tasks, each on a fresh disk
        settings = settings_for(lake, tmp_path / f"disk{n}", tmp_path)
        with lake_state(settings, "p"):
            assert runs(settings) == [f"run{i}" for i in range(n)]
            record(settings, f"run{n}")
    reader = settings_for(lake, tmp_path / "reader", tmp_path)
    with lake_state(reader, "p"):
        assert runs(reader) == ["run0", "run1", "run2"]


def test_a_failed_task_still_leaves_its_record(lake: str, tmp_path: Path) -> None:
    settings = settings_for(lake, tmp_path / "disk", tmp_path)
    with pytest.raises(RuntimeError), lake_state(settings, "p"):
        record(settings, "failed-run")
        raise RuntimeError("the step failed")
    reader = settings_for(lake, tmp_path / "reader", tmp_path)
    with lake_state(reader, "p"):
        assert runs(reader) == ["failed-run"]


def test_a_change_by_another_task_meanwhile_is_refused(s3_bucket: str, tmp_path: Path) -> None:
    lake = f"s3://{s3_bucket}/lake"
    first = settings_for(lake, tmp_path / "first", tmp_path)
    second = settings_for(lake, tmp_path / "second", tmp_path)
    with lake_state(first, "p"):
        record(first, "base")
    with pytest.raises(StateConflict, match=state_object("p")), lake_state(first, "p"):
        record(first, "slow")
        with lake_state(second, "p"):  # another execution, finishing first
            record(second, "fast")
    reader = settings_for(lake, tmp_path / "reader", tmp_path)
    with lake_state(reader, "p"):
        assert runs(reader) == ["base", "fast"]  # the slow task's change was not written over it


def test_two_first_tasks_do_not_both_create_it(s3_bucket: str, tmp_path: Path) -> None:
    lake = f"s3://{s3_bucket}/fresh"
    one = settings_for(lake, tmp_path / "one", tmp_path)
    two = settings_for(lake, tmp_path / "two", tmp_path)
    with pytest.raises(StateConflict), lake_state(one, "p"):
        record(one, "one")
        with lake_state(two, "p"):
            record(two, "two")


def test_off_by_default_nothing_goes_to_the_lake(tmp_path: Path) -> None:
    settings = settings_for(str(tmp_path / "lake"), tmp_path / "disk", tmp_path)
    settings = settings.model_copy(update={"state_in_lake": False})
    with lake_state(settings, "p"):
        record(settings, "local-only")
    assert not (tmp_path / "lake" / state_object("p")).exists()
    assert runs(settings) == ["local-only"]


def test_each_pipeline_has_its_own_state_object(s3_bucket: str, tmp_path: Path) -> None:
    """Executions of different pipelines at the same time do not conflict."""
    lake = f"s3://{s3_bucket}/lake"
    one = settings_for(lake, tmp_path / "one", tmp_path)
    two = settings_for(lake, tmp_path / "two", tmp_path)
    with lake_state(one, "totesys"):
        record(one, "totesys-run")
        with lake_state(two, "weather_sales"):
            record(two, "weather-run")
    for pipeline, run in (("totesys", "totesys-run"), ("weather_sales", "weather-run")):
        reader = settings_for(lake, tmp_path / f"reader-{pipeline}", tmp_path)
        with lake_state(reader, pipeline):
            assert runs(reader) == [run]


def test_strata_runs_reads_the_history_deployed_runs_keep_in_the_lake(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from strata.cli.app import app
    from strata.session import describe_run, run_history

    lake = f"s3://{s3_bucket}/lake"
    for pipeline, run in (("totesys", "exec-1.ingest.0"), ("weather_sales", "exec-2.upload.0")):
        task = settings_for(lake, tmp_path / f"task-{pipeline}", tmp_path)
        with lake_state(task, pipeline):
            RunStore(task.state_path).start_run(RunRecord(run, pipeline, "succeeded", 1.0))
    reader = settings_for(lake, tmp_path / "laptop", tmp_path)
    assert [r.run_id for r in run_history(reader)] == ["exec-1.ingest.0", "exec-2.upload.0"]
    assert [r.run_id for r in run_history(reader, "weather_sales")] == ["exec-2.upload.0"]
    found = describe_run(reader, "exec-2.upload.0")
    assert found is not None and found["run"].pipeline == "weather_sales"
    assert not (tmp_path / "laptop" / "state.db").exists()  # read-only copies, elsewhere
    monkeypatch.setenv("STRATA_STATE_IN_LAKE", "true")
    # The CLI's console took its width at import: a wide one, so no run id is cut short.
    monkeypatch.setattr(sys.modules["strata.cli.app"], "out", Console(width=200))
    result = CliRunner().invoke(app, ["runs", "--lake", lake])
    assert result.exit_code == 0, result.output
    assert "exec-1.ingest.0" in result.output and "exec-2.upload.0" in result.output
