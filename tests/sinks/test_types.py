"""Type mapping and schema-evolution planning (no database needed)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from strata.errors import ConfigError, WarehouseError
from strata.sinks.base import ExistingTable, plan_schema
from strata.sinks.duckdb_file import DuckDBDialect
from strata.sinks.mysql import MySQLDialect
from strata.sinks.postgres import PostgresDialect
from strata.sinks.types import (
    NormalizedData,
    SqlType,
    UnsupportedType,
    canonical_type,
    decimal,
    sql_type_of,
    unify,
)

INT = {bits: SqlType("int", bits) for bits in (8, 16, 32, 64)}
F32, F64 = SqlType("float", 32), SqlType("float", 64)
TEXT = SqlType("text")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (INT[32], INT[64], INT[64]),
        (INT[64], INT[32], INT[64]),
        (F32, F64, F64),
        (INT[16], F32, F32),
        (INT[32], F32, F64),
        (F32, INT[32], F64),
        (INT[64], F64, None),  # a double cannot hold every bigint
        (F64, INT[64], None),
        (INT[32], decimal(5, 2), decimal(12, 2)),
        (decimal(5, 2), decimal(4, 3), decimal(6, 3)),
        (decimal(None), decimal(40, 2), decimal(None)),
        (decimal(10, 2), F64, None),
        (SqlType("text", 255), TEXT, TEXT),
        (SqlType("text", 10), SqlType("text", 20), SqlType("text", 20)),
        (TEXT, INT[64], None),
        (INT[64], TEXT, None),
        (SqlType("timestamp"), SqlType("timestamptz"), None),
        (SqlType("date"), SqlType("timestamp"), None),
        (SqlType("bool"), INT[8], None),
        (SqlType("other", raw="uuid"), TEXT, SqlType("other", raw="uuid")),
    ],
)
def test_unify(old: SqlType, new: SqlType, expected: SqlType | None) -> None:
    assert unify(old, new) == expected


def test_canonical_types() -> None:
    assert canonical_type(pa.dictionary(pa.int8(), pa.large_string())) == pa.large_string()
    assert canonical_type(pa.uint64()) == pa.decimal128(20, 0)
    assert canonical_type(pa.timestamp("ns", "Europe/Paris")) == pa.timestamp("us", "Europe/Paris")
    assert canonical_type(pa.date64()) == pa.date32()
    assert canonical_type(pa.null()) == pa.string()
    assert sql_type_of(pa.timestamp("us", "UTC")) == SqlType("timestamptz")
    with pytest.raises(UnsupportedType):
        canonical_type(pa.list_(pa.int64()))


def test_normalized_data_streams_and_numbers_rows() -> None:
    table = pa.table({"a": pa.array([1, 2, 3], pa.uint8()), "b": pa.array([None] * 3)})
    data = NormalizedData(table.to_reader(max_chunksize=2))
    batches = list(data.batches())
    assert data.rows == 3 and [b.num_rows for b in batches] == [2, 1]
    assert batches[1].column("__strata_seq").to_pylist() == [2]
    assert data.data_schema == pa.schema([("a", pa.int16()), ("b", pa.string())])
    with pytest.raises(ConfigError, match="reserved"):
        NormalizedData(pa.table({"__strata_seq": [1]}))
    with pytest.raises(ConfigError, match="Table or RecordBatchReader"):
        NormalizedData([1, 2])


@pytest.mark.parametrize(
    ("dialect", "catalog_names"),
    [
        (
            PostgresDialect(),
            {
                "smallint": INT[16],
                "bigint": INT[64],
                "double precision": F64,
                "numeric(12,4)": decimal(12, 4),
                "numeric": decimal(None),
                "character varying(30)": SqlType("text", 30),
                "timestamp with time zone": SqlType("timestamptz"),
                "timestamp(3) without time zone": SqlType("timestamp"),
                "uuid": SqlType("other", raw="uuid"),
            },
        ),
        (
            MySQLDialect(),
            {
                "tinyint(1)": SqlType("bool"),
                "tinyint(4)": INT[8],
                "bigint(20)": INT[64],
                "bigint(20) unsigned": SqlType("other", raw="bigint(20) unsigned"),
                "decimal(65,30)": decimal(65, 30),
                "varchar(255)": SqlType("text", 255),
                "text": SqlType("text", 65535),
                "longtext": TEXT,
                "longblob": SqlType("binary"),
                "datetime(6)": SqlType("timestamp"),
            },
        ),
        (
            DuckDBDialect(),
            {
                "INTEGER": INT[32],
                "DECIMAL(18,3)": decimal(18, 3),
                "VARCHAR": TEXT,
                "TIMESTAMP WITH TIME ZONE": SqlType("timestamptz"),
                "HUGEINT": SqlType("other", raw="HUGEINT"),
            },
        ),
    ],
    ids=["postgresql", "mysql", "duckdb"],
)
def test_catalog_type_names_parse(dialect: object, catalog_names: dict[str, SqlType]) -> None:
    for raw, expected in catalog_names.items():
        assert dialect.parse(raw) == expected, raw  # type: ignore[attr-defined]


def test_mysql_stores_keys_and_zoned_timestamps_its_own_way() -> None:
    mysql = MySQLDialect()
    assert mysql.render(mysql.store(TEXT, key=True)) == "VARCHAR(255)"
    assert mysql.render(mysql.store(TEXT, key=False)) == "LONGTEXT"
    assert mysql.render(mysql.store(SqlType("timestamptz"), key=False)) == "DATETIME(6)"
    assert PostgresDialect().render(PostgresDialect().store(INT[8], key=False)) == "SMALLINT"


def test_plan_for_a_new_table() -> None:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    plan = plan_schema("s.t", MySQLDialect(), schema, None, ["id"], "merge")
    assert plan.create and [c.key for c in plan.columns] == [True, False]


def test_plan_adds_widens_and_refuses() -> None:
    existing = ExistingTable({"id": INT[64], "n": INT[32], "s": TEXT}, ["id"])
    schema = pa.schema([("id", pa.int64()), ("n", pa.int64()), ("new", pa.bool_())])
    plan = plan_schema("s.t", PostgresDialect(), schema, existing, ["id"], "merge")
    assert plan.columns_added == ["new"]
    assert [(c.target, old, c.type) for c, old in plan.widen] == [("n", INT[32], INT[64])]

    unsafe = pa.schema([("id", pa.int64()), ("s", pa.int64())])
    with pytest.raises(WarehouseError, match=r"'s' has type TEXT and the data has BIGINT"):
        plan_schema("s.t", PostgresDialect(), unsafe, existing, ["id"], "append")
    with pytest.raises(WarehouseError, match="primary key"):
        plan_schema("s.t", PostgresDialect(), unsafe, existing, ["s"], "merge")


def test_plan_rejects_names_the_database_would_confuse() -> None:
    twins = pa.schema([("a", pa.int64()), ("A", pa.int64())])
    assert plan_schema("s.t", PostgresDialect(), twins, None, [], "append").create
    with pytest.raises(ConfigError, match="both named"):
        plan_schema("s.t", DuckDBDialect(), twins, None, [], "append")
    with pytest.raises(ConfigError, match="too long"):
        plan_schema(
            "s.t", PostgresDialect(), pa.schema([("x" * 64, pa.int8())]), None, [], "append"
        )
