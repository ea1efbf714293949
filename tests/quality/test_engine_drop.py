"""DuckDBEngine.drop, which every quality split and model build leans on: it drops whatever
temporary object has the name (registered data, view, table), ignores names that do not exist,
and never touches the session database's own tables."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from strata.engines import DuckDBEngine
from strata.quality import parse_rules


@pytest.fixture
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=1) as session:
        yield session


def objects(engine: DuckDBEngine) -> list[tuple[str, str]]:
    rows = engine.con.sql(
        "SELECT table_catalog, table_name FROM information_schema.tables ORDER BY ALL"
    ).fetchall()
    return [(catalog, name) for catalog, name in rows]


def test_drop_takes_each_kind_of_temporary_object(engine: DuckDBEngine) -> None:
    engine.register("registered", pa.table({"id": [1]}))
    engine.create_view("view", "SELECT 1 AS id")
    engine.con.execute("CREATE TEMP TABLE made_directly AS SELECT 1 AS id")  # as Spark's shadow
    engine.drop("registered", "view", "made_directly", "never_existed")
    assert objects(engine) == []


def test_drop_leaves_the_session_database_alone(engine: DuckDBEngine) -> None:
    engine.con.execute("CREATE TABLE kept AS SELECT 1 AS id")
    engine.drop("kept")
    assert objects(engine) == [("memory", "kept")]
    engine.con.execute("CREATE TEMP TABLE kept AS SELECT 2 AS id")  # shadows it
    engine.drop("kept")
    assert objects(engine) == [("memory", "kept")]
    assert engine.query("SELECT id FROM kept").to_pylist() == [{"id": 1}]


def test_a_second_split_replaces_the_first(engine: DuckDBEngine) -> None:
    engine.register("src", pa.table({"id": [1, None, 3]}))
    rules = parse_rules([{"type": "not_null", "column": "id", "severity": "block", "threshold": 1}])
    for _ in range(2):
        report = engine.check_quality("src", rules, "t", passed="ok", quarantined="bad")
        assert (report.passed_rows, report.quarantined_rows) == (2, 1)
    temp = [name for catalog, name in objects(engine) if catalog == "temp"]
    assert sorted(name for name in temp if not name.startswith("_dq_checked_")) == [
        "bad",
        "ok",
        "src",
    ]
    assert sum(name.startswith("_dq_checked_") for name in temp) == 1  # the first one went
    engine.drop("ok", "bad", "src")
    assert objects(engine) == []
