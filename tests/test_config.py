"""Settings: explicit > environment > .env > profile in strata.toml > default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strata.config import Settings, find_config_file, load_settings
from strata.errors import ConfigError

TOML = """
[profiles.dev]
workers = 3
lake = "./dev-lake"
log_retention_days = 5

[profiles.dev.pipelines.smartsensor]
sensors = 10
api_url = "http://profile"

[profiles.prod]
workers = 8
lake = "s3://bucket/prefix"

[profiles.staging]
workers = 4
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No STRATA_* variable of the machine leaks in; the working directory is empty."""
    for key in list(os.environ):
        if key.startswith("STRATA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "strata.toml"
    path.write_text(TOML)
    return path


def no_dotenv(tmp_path: Path) -> Path:
    return tmp_path / "missing.env"


def empty_toml(tmp_path: Path) -> Path:
    """An empty config file, so no strata.toml above tmp_path can leak in."""
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def test_defaults_without_any_source(tmp_path: Path) -> None:
    settings = load_settings(config_file=empty_toml(tmp_path), dotenv=no_dotenv(tmp_path))
    assert settings.profile == "dev"
    assert settings.workers == 2
    assert settings.lake == "./lake"
    assert settings.log_retention_days == 7
    assert settings.pipelines == {}


def test_profile_values_beat_defaults(toml: Path, tmp_path: Path) -> None:
    settings = load_settings(config_file=toml, dotenv=no_dotenv(tmp_path))
    assert settings.workers == 3
    assert settings.lake == "./dev-lake"
    assert settings.log_retention_days == 5
    assert settings.data_retention_days == 90  # not in the profile: default
    assert settings.pipeline_options("smartsensor") == {"sensors": 10, "api_url": "http://profile"}
    assert settings.pipeline_options("other") == {}


def test_profile_chosen_by_argument_and_by_env(
    toml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings("prod", config_file=toml, dotenv=no_dotenv(tmp_path)).workers == 8
    # Custom profiles defined in the file are allowed too.
    assert load_settings("staging", config_file=toml, dotenv=no_dotenv(tmp_path)).workers == 4
    monkeypatch.setenv("STRATA_PROFILE", "prod")
    settings = load_settings(config_file=toml, dotenv=no_dotenv(tmp_path))
    assert (settings.profile, settings.workers) == ("prod", 8)


def test_dotenv_beats_profile(toml: Path, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("STRATA_WORKERS=5\nSTRATA_SMARTSENSOR__SENSORS=20\nOTHER=ignored\n")
    settings = load_settings(config_file=toml, dotenv=dotenv)
    assert settings.workers == 5
    options = settings.pipeline_options("smartsensor")
    assert options["sensors"] == "20"
    assert options["api_url"] == "http://profile"  # untouched keys keep the profile value


def test_env_beats_dotenv(toml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("STRATA_WORKERS=5\nSTRATA_SMARTSENSOR__SENSORS=20\n")
    monkeypatch.setenv("STRATA_WORKERS", "6")
    monkeypatch.setenv("STRATA_SMARTSENSOR__SENSORS", "30")
    settings = load_settings(config_file=toml, dotenv=dotenv)
    assert settings.workers == 6
    assert settings.pipeline_options("smartsensor")["sensors"] == "30"


def test_explicit_beats_env_and_none_is_ignored(
    toml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATA_WORKERS", "6")
    monkeypatch.setenv("STRATA_LAKE", "/env/lake")
    settings = load_settings(config_file=toml, dotenv=no_dotenv(tmp_path), workers=9, lake=None)
    assert settings.workers == 9
    assert settings.lake == "/env/lake"  # lake=None is "not given", not "unset"


def test_default_dotenv_is_read_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STRATA_WORKERS=11\n")
    assert load_settings(config_file=empty_toml(tmp_path)).workers == 11


def test_env_pipeline_option_for_a_pipeline_not_in_the_profile(
    toml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATA_WEATHER__API_URL", "http://env")
    settings = load_settings(config_file=toml, dotenv=no_dotenv(tmp_path))
    assert settings.pipeline_options("weather") == {"api_url": "http://env"}


def test_pipeline_options_are_a_copy(toml: Path, tmp_path: Path) -> None:
    settings = load_settings(config_file=toml, dotenv=no_dotenv(tmp_path))
    settings.pipeline_options("smartsensor")["sensors"] = 0
    assert settings.pipeline_options("smartsensor")["sensors"] == 10


def test_unknown_profile_suggests_the_closest(toml: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'prdo'.*did you mean 'prod'\?"):
        load_settings("prdo", config_file=toml, dotenv=no_dotenv(tmp_path))


def test_unknown_profile_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_ENV", "stagng")
    with pytest.raises(ConfigError, match="unknown profile 'stagng'"):
        load_settings(config_file=empty_toml(tmp_path), dotenv=no_dotenv(tmp_path))


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"STRATA_WORKERS": "many"}, "workers"),
        ({"STRATA_WORKERS": "0"}, "workers"),
        ({"STRATA_LOG_RETENTION_DAYS": "-1"}, "log_retention_days"),
        ({"STRATA_LEASE_TTL_SECONDS": "0"}, "lease_ttl_seconds"),
    ],
)
def test_invalid_value_names_the_setting(
    env: dict[str, str], setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=rf"setting '{setting}' in profile 'dev'"):
        load_settings(config_file=empty_toml(tmp_path), dotenv=no_dotenv(tmp_path))


def test_unknown_key_in_profile_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "strata.toml"
    path.write_text("[profiles.dev]\nworkerz = 3\n")
    with pytest.raises(ConfigError, match="workerz"):
        load_settings(config_file=path, dotenv=no_dotenv(tmp_path))


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "strata.toml"
    path.write_text("[profiles.dev\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(config_file=path, dotenv=no_dotenv(tmp_path))


def test_find_config_file_walks_up_and_honours_strata_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "strata.toml").write_text(TOML)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config_file(nested) == (tmp_path / "strata.toml").resolve()
    monkeypatch.setenv("STRATA_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert find_config_file(nested) == tmp_path / "elsewhere.toml"


def test_config_file_found_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "strata.toml").write_text(TOML)
    assert load_settings(dotenv=no_dotenv(tmp_path)).workers == 3


def test_state_path_rules(tmp_path: Path) -> None:
    assert Settings(lake="/data/lake", state_dir="/var/state").state_path == Path("/var/state")
    assert Settings(lake="/data/lake").state_path == Path("/data/lake/_strata")
    assert Settings(lake="s3://bucket/prefix").state_path == Path(".strata")
    assert Settings(lake="s3://bucket", state_dir=str(tmp_path)).state_path == tmp_path


def test_state_path_of_a_file_uri_lake_is_beside_the_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    assert Settings(lake=f"file://{lake}").state_path == lake / "_strata"


def test_settings_are_frozen_and_strict() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.workers = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="extra"):
        Settings(unknown=1)  # type: ignore[call-arg]
