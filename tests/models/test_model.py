"""SQL model files: the TOML header, its validation, and Jinja rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from strata.errors import ConfigError, ModelError
from strata.models.materialize import render
from strata.models.model import load_model, load_models
from strata.quality import NotNull, Range

FULL = """
  /* strata
layer = "silver"
description = "Readings per day"
materialized = "incremental"
unique_key = ["dt", "sensor_id"]
partition_by = ["dt"]
incremental_strategy = "merge"

[[rules]]
type = "not_null"
column = "sensor_id"
severity = "block"

[[rules]]
type = "range"
column = "temp"
min = -90
max = 60

[metrics]
total = "count(*)"
*/
SELECT * FROM bronze.responses
{% if is_incremental() %}WHERE dt > (SELECT max(dt) FROM {{ this }}){% endif %}
"""


def write(tmp_path: Path, text: str, name: str = "readings") -> Path:
    path = tmp_path / f"{name}.sql"
    path.write_text(text)
    return path


def header(body: str, sql: str = "SELECT 1 AS x") -> str:
    return f"/* strata\n{body}\n*/\n{sql}\n"


def test_load_model_parses_the_header(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, FULL), "sensors")
    assert model.name == "readings"
    assert model.pipeline == "sensors"
    assert model.layer == "silver"
    assert model.materialized == "incremental"
    assert model.unique_key == ("dt", "sensor_id")
    assert model.partition_by == ("dt",)
    assert model.incremental_strategy == "merge"
    assert model.description == "Readings per day"
    assert model.metrics == {"total": "count(*)"}
    assert [type(r) for r in model.rules] == [NotNull, Range]
    assert model.rules[0].severity == "block" and model.rules[1].severity == "warn"
    assert model.sql.startswith("SELECT * FROM bronze.responses")
    assert "*/" not in model.sql
    assert model.qualified_name == "silver.sensors.readings"
    assert model.table_path == "silver/sensors/readings"
    assert model.path == tmp_path / "readings.sql"


def test_defaults(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, header("")), "p")
    assert (model.layer, model.materialized, model.incremental_strategy) == (
        "silver",
        "table",
        "merge",
    )
    assert model.unique_key == () and model.partition_by == () and model.rules == ()
    assert model.metrics == {} and model.description == ""
    assert model.sql == "SELECT 1 AS x"


def test_gold_layer_and_append_strategy_without_key(tmp_path: Path) -> None:
    text = header('layer = "gold"\nmaterialized = "incremental"\nincremental_strategy = "append"')
    model = load_model(write(tmp_path, text), "p")
    assert model.layer == "gold" and model.incremental_strategy == "append"
    assert model.qualified_name == "gold.p.readings"


def test_missing_header(tmp_path: Path) -> None:
    path = write(tmp_path, "SELECT 1\n/* strata\nlayer = 'silver'\n*/\n")
    with pytest.raises(ConfigError, match="missing the leading /\\* strata"):
        load_model(path, "p")
    with pytest.raises(ConfigError, match="missing"):
        load_model(write(tmp_path, "/* not strata */ SELECT 1"), "p")


def test_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_model(write(tmp_path, header("layer = silver")), "p")
    assert "readings.sql" in str(caught.value)


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown model setting 'uniqe_key'.*did you mean 'unique_key'"
    ):
        load_model(write(tmp_path, header('uniqe_key = ["id"]')), "p")


def test_unknown_materialization(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown materialization 'incremntal'.*'incremental'"):
        load_model(write(tmp_path, header('materialized = "incremntal"')), "p")


def test_unknown_strategy_and_layer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown incremental strategy 'upsert'"):
        load_model(write(tmp_path, header('incremental_strategy = "upsert"')), "p")
    with pytest.raises(ConfigError, match="unknown layer 'bronze'"):
        load_model(write(tmp_path, header('layer = "bronze"')), "p")


def test_incremental_merge_needs_unique_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="incremental merge model needs a unique_key"):
        load_model(write(tmp_path, header('materialized = "incremental"')), "p")


def test_bad_rule_names_the_file(tmp_path: Path) -> None:
    text = header('[[rules]]\ntype = "not_nul"\ncolumn = "x"')
    with pytest.raises(ConfigError, match=r"readings\.sql") as caught:
        load_model(write(tmp_path, text), "p")
    assert "not_nul" in str(caught.value)


def test_load_models_reads_a_folder(tmp_path: Path) -> None:
    write(tmp_path, header(""), "b_model")
    write(tmp_path, header('layer = "gold"'), "a_model")
    (tmp_path / "notes.txt").write_text("not a model")
    models = load_models(tmp_path, "p")
    assert list(models) == ["a_model", "b_model"]
    assert models["a_model"].layer == "gold"


def test_render_with_and_without_is_incremental(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, FULL), "sensors")
    full = render(model, incremental=False)
    assert "WHERE" not in full
    incremental = render(model, incremental=True)
    assert "WHERE dt > (SELECT max(dt) FROM silver.sensors.readings)" in incremental


def test_render_variables_and_errors(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, header("", "SELECT {{ n }} AS n")), "p")
    assert render(model, False, {"n": 5}) == "SELECT 5 AS n"
    with pytest.raises(ModelError, match="template error"):
        render(model, False)  # undefined variable
    broken = load_model(write(tmp_path, header("", "SELECT {% if %}"), "broken"), "p")
    with pytest.raises(ModelError, match=r"silver\.p\.broken: template error"):
        render(broken, False)
