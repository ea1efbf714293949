"""The DuckDB engine: engine-side views, streams, quality splits and native Parquet scans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from strata.engines import DuckDBEngine
from strata.engines.duckdb import default_memory_limit
from strata.errors import ConfigError, ModelError
from strata.quality import QualityCheckFailed, parse_rules


@pytest.fixture
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=1) as session:
        yield session


def temp_objects(engine: DuckDBEngine) -> list[str]:
    rows = engine.con.sql("SELECT table_name FROM information_schema.tables").fetchall()
    return sorted(name for (name,) in rows)


def test_memory_limit_defaults_to_a_bounded_share(engine: DuckDBEngine) -> None:
    assert default_memory_limit().endswith("MiB")
    assert int(default_memory_limit()[:-3]) <= 256
    [(limit,)] = engine.con.sql("SELECT current_setting('memory_limit')").fetchall()
    assert limit == "256.0 MiB"
    with DuckDBEngine(threads=1, memory_limit="1GB") as other:
        [(limit,)] = other.con.sql("SELECT current_setting('memory_limit')").fetchall()
        assert limit == "953.6 MiB"  # 1 GB in DuckDB's binary units


def test_create_view_binds_without_running(engine: DuckDBEngine) -> None:
    engine.register("src", pa.table({"a": [1, 2]}))
    engine.create_view("v", "SELECT a * 10 AS b FROM src")
    assert engine.query("SELECT sum(b) AS s FROM v").to_pylist() == [{"s": 30}]
    with pytest.raises(ModelError, match="no_such_column"):
        engine.create_view("bad", "SELECT no_such_column FROM src")
    # Replacing a view by name works, and dropping forgets it.
    engine.create_view("v", "SELECT a FROM src WHERE a > 1")
    assert engine.query("SELECT count(*) AS n FROM v").to_pylist() == [{"n": 1}]
    engine.drop("v", "src", "never_existed")
    assert temp_objects(engine) == []


def test_stream_hands_rows_over_in_batches(engine: DuckDBEngine) -> None:
    reader = engine.stream("SELECT range AS id FROM range(10000)", batch_rows=1024)
    assert isinstance(reader, pa.RecordBatchReader)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 10000 and max(sizes) <= 1024 and len(sizes) >= 10
    with pytest.raises(ModelError):
        engine.stream("SELECT * FROM missing_table")


def test_check_quality_leaves_the_split_in_the_engine(engine: DuckDBEngine) -> None:
    engine.register("src", pa.table({"id": [1, 2, 3], "v": [5, None, 50]}))
    rules = parse_rules(
        [
            {"type": "not_null", "column": "v", "severity": "block", "threshold": 0.5},
            {"type": "range", "column": "v", "max": 10, "severity": "warn"},
        ]
    )
    report = engine.check_quality("src", rules, "silver.p.t", passed="ok", quarantined="bad")
    assert (report.total_rows, report.passed_rows, report.quarantined_rows) == (3, 2, 1)
    ok = engine.query("SELECT * FROM ok ORDER BY id")
    assert ok.column_names == ["id", "v", "_quality_warnings"]
    assert ok.to_pylist()[1] == {"id": 3, "v": 50, "_quality_warnings": "range:v"}
    bad = engine.query("SELECT * FROM bad").to_pylist()
    assert bad == [{"id": 2, "v": None, "_quality_failed_rules": "not_null:v"}]
    engine.drop("ok")
    assert engine.query("SELECT count(*) AS n FROM bad").to_pylist() == [{"n": 1}]
    engine.drop("bad", "src")
    assert temp_objects(engine) == []  # the checked rows went with the last view over them


def test_check_quality_without_warn_rules_has_no_warnings_column(engine: DuckDBEngine) -> None:
    engine.register("src", pa.table({"id": [1, None]}))
    rules = parse_rules([{"type": "not_null", "column": "id", "severity": "block"}])
    engine.check_quality("src", rules, "t", passed="ok", quarantined="bad")
    assert engine.query("SELECT * FROM ok").column_names == ["id"]
    assert engine.query("SELECT * FROM bad").column_names == ["id", "_quality_failed_rules"]


def test_check_quality_reads_its_relation_once(engine: DuckDBEngine) -> None:
    # random() differs on every read: one read means the split and the counts agree.
    engine.create_view("src", "SELECT range AS id, random() < 0.5 AS flip FROM range(2000)")
    rules = parse_rules(
        [
            {"type": "expression", "sql": "flip", "severity": "block", "threshold": 1.0},
            {"type": "row_count", "min": 1},
        ]
    )
    report = engine.check_quality("src", rules, "t", passed="ok", quarantined="bad")
    [(passed,)] = engine.con.sql("SELECT count(*) FROM ok WHERE flip").fetchall()
    [(rejected,)] = engine.con.sql("SELECT count(*) FROM bad WHERE NOT flip").fetchall()
    assert passed == report.passed_rows and rejected == report.quarantined_rows
    assert report.metrics["observed"]["row_count"] == 2000


def test_check_quality_failures_leave_nothing_behind(engine: DuckDBEngine) -> None:
    engine.register("src", pa.table({"id": [None, None, 1]}))
    block = parse_rules(
        [{"type": "not_null", "column": "id", "severity": "block", "threshold": 0.0}]
    )
    with pytest.raises(QualityCheckFailed):
        engine.check_quality("src", block, "t", passed="ok", quarantined="bad")
    unfit = parse_rules([{"type": "not_null", "column": "nope"}])
    with pytest.raises(ConfigError):
        engine.check_quality("src", unfit, "t", passed="ok", quarantined="bad")
    engine.create_view("broken", "SELECT CAST('x' || id AS INTEGER) AS n FROM src")
    with pytest.raises(ModelError, match=r"silver\.p\.broken"):
        engine.check_quality("broken", [], "silver.p.broken", passed="ok", quarantined="bad")
    engine.drop("src", "broken")
    assert temp_objects(engine) == []


def parquet_loads(tmp_path: Path) -> ds.FileSystemDataset:
    """Two bronze-like loads: Parquet files with a per-file `_load_id` from their partition."""
    paths, partitions = [], []
    for load_id, rows in ((7, [1, 2]), (9, [3])):
        path = tmp_path / f"load_{load_id}.parquet"
        pq.write_table(pa.table({"id": rows, "name": [f"n{r}" for r in rows]}), path)
        paths.append(str(path))
        partitions.append(ds.field("_load_id") == pa.scalar(load_id, pa.int64()))
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("_load_id", pa.int64())])
    return ds.FileSystemDataset.from_paths(
        paths,
        schema=schema,
        format=ds.ParquetFileFormat(),
        filesystem=pafs.LocalFileSystem(),
        partitions=partitions,
    )


def view_sql(engine: DuckDBEngine, name: str) -> str:
    rows = engine.con.sql(
        f"SELECT sql FROM duckdb_views() WHERE view_name = '{name}' AND NOT internal"
    ).fetchall()
    return rows[0][0] if rows else ""


def test_local_parquet_datasets_are_scanned_natively(engine: DuckDBEngine, tmp_path: Path) -> None:
    dataset = parquet_loads(tmp_path)
    engine.register("loads", dataset)
    assert "read_parquet" in view_sql(engine, "loads")
    native = engine.query("SELECT * FROM loads ORDER BY id")
    assert native.to_pylist() == dataset.to_table().sort_by("id").to_pylist()
    assert native.schema == dataset.schema
    engine.drop("loads")
    assert temp_objects(engine) == []


def test_other_datasets_are_registered_through_arrow(engine: DuckDBEngine, tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    pacsv.write_csv(pa.table({"id": [1, 2]}), csv)
    engine.register("csv_rows", ds.dataset(str(csv), format="csv"))
    assert "read_parquet" not in view_sql(engine, "csv_rows")
    assert engine.query("SELECT sum(id) AS s FROM csv_rows").to_pylist() == [{"s": 3}]
    # A column no file holds cannot be read natively: Arrow fills it with NULL instead.
    path = tmp_path / "one.parquet"
    pq.write_table(pa.table({"id": [1]}), path)
    wider = ds.dataset(str(path), schema=pa.schema([("id", pa.int64()), ("extra", pa.string())]))
    engine.register("wider", wider)
    assert "read_parquet" not in view_sql(engine, "wider")
    assert engine.query("SELECT * FROM wider").to_pylist() == [{"id": 1, "extra": None}]
    assert "wider__files" not in temp_objects(engine)


def test_memory_limit_is_a_setting_and_a_bad_value_is_named() -> None:
    from strata.engines.duckdb import DuckDBEngine
    from strata.errors import ConfigError

    engine = DuckDBEngine(memory_limit="1GB")
    assert engine.query("SELECT current_setting('memory_limit') AS m").to_pylist()[0]["m"]
    engine.close()
    with pytest.raises(ConfigError, match="memory_limit 'lots'"):
        DuckDBEngine(memory_limit="lots")
