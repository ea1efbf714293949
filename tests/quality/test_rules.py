"""Golden tests for the quality rule engine on DuckDB, plus Spark transpilation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlglot.errors import ErrorLevel

from strata.errors import ConfigError, QualityError
from strata.quality import (
    NotNull,
    QualityCheckFailed,
    QualityReport,
    Range,
    Rule,
    Unique,
    compile_checks,
    compile_table_checks,
    evaluate,
    parse_rules,
)
from strata.quality.report import split


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def run(
    con: duckdb.DuckDBPyConnection, data: dict[str, list[Any]], *rules: dict[str, Any], **kw: Any
) -> tuple[pa.Table, pa.Table, QualityReport]:
    con.register("src", pa.table(data))
    return evaluate(con, "src", parse_rules(list(rules)), **kw)


def flagged(con: duckdb.DuckDBPyConnection, data: dict[str, list[Any]], rule: dict[str, Any]):
    """The ids of the rows the (warn) rule flags, checking the split along the way."""
    passed, quarantined, report = run(con, data, rule)
    assert quarantined.num_rows == 0 and passed.num_rows == len(data["id"])
    rows = passed.to_pylist()
    ids = sorted(row["id"] for row in rows if row["_quality_warnings"])
    assert report.rules[0].failed == len(ids)
    return ids


# --- row-level rules ---------------------------------------------------------------------


def test_not_null_fails_only_nulls(con):
    data = {"id": [1, 2, 3], "sensor": ["a", None, ""]}
    assert flagged(con, data, {"type": "not_null", "column": "sensor"}) == [2]


def test_unique_flags_every_duplicate_and_lets_nulls_pass(con):
    data = {"id": [1, 2, 3, 4, 5, 6], "k": ["a", "a", "b", None, None, "a"]}
    assert flagged(con, data, {"type": "unique", "columns": ["k"]}) == [1, 2, 6]


def test_unique_over_several_columns(con):
    data = {"id": [1, 2, 3, 4], "a": [1, 1, 1, 1], "b": ["x", "y", "x", None]}
    assert flagged(con, data, {"type": "unique", "columns": ["a", "b"]}) == [1, 3]


def test_accepted_values(con):
    data = {"id": [1, 2, 3, 4], "unit": ["C", "F", "K", None]}
    rule = {"type": "accepted_values", "column": "unit", "values": ["C", "F"]}
    assert flagged(con, data, rule) == [3]


def test_accepted_values_escapes_quotes(con):
    data = {"id": [1, 2], "name": ["O'Brien", "Smith"]}
    rule = {"type": "accepted_values", "column": "name", "values": ["O'Brien"]}
    assert flagged(con, data, rule) == [2]


@pytest.mark.parametrize(
    ("inclusive", "expected"), [(True, [1, 5]), (False, [1, 2, 4, 5])], ids=["incl", "excl"]
)
def test_range_boundaries(con, inclusive, expected):
    data = {"id": [1, 2, 3, 4, 5, 6], "v": [-0.5, 0.0, 5.0, 10.0, 10.5, None]}
    rule = {"type": "range", "column": "v", "min": 0, "max": 10, "inclusive": inclusive}
    assert flagged(con, data, rule) == expected


@pytest.mark.parametrize(("bound", "expected"), [("min", [1]), ("max", [3])])
def test_range_with_one_bound(con, bound, expected):
    data = {"id": [1, 2, 3], "v": [-1, 0, 1]}
    assert flagged(con, data, {"type": "range", "column": "v", bound: 0}) == expected


def test_range_on_dates(con):
    data = {"id": [1, 2, 3], "day": [date(2023, 12, 31), date(2024, 1, 1), date(2024, 6, 1)]}
    rule = {"type": "range", "column": "day", "min": date(2024, 1, 1)}
    assert flagged(con, data, rule) == [1]


def test_regex_matches_anywhere_unless_anchored(con):
    data = {"id": [1, 2, 3, 4], "code": ["S-001", "S-1", "xS-002", None]}
    rule = {"type": "regex", "column": "code", "pattern": r"^S-\d{3}$"}
    assert flagged(con, data, rule) == [2, 3]
    assert flagged(con, data, {**rule, "pattern": r"S-\d{3}"}) == [2]


def test_relationships_against_a_second_table(con):
    con.register("sensors_v", pa.table({"sensor_id": [1, 2, 2]}))  # duplicate parent key
    data = {"id": [1, 2, 3, 4], "sensor": [1, 2, 9, None]}
    rule = {"type": "relationships", "column": "sensor", "to": "silver.sensors"}
    rule["field"] = "sensor_id"
    resolve = {"silver.sensors": "sensors_v"}.__getitem__
    passed, _, report = run(con, data, rule, resolve=resolve)
    # The duplicate parent key must not duplicate child rows.
    assert passed.num_rows == 4
    assert [r["id"] for r in passed.to_pylist() if r["_quality_warnings"]] == [3]
    assert report.rules[0].failed == 1


def test_relationships_field_defaults_to_column(con):
    con.register("parents", pa.table({"sensor": [1]}))
    data = {"id": [1, 2], "sensor": [1, 2]}
    rule = {"type": "relationships", "column": "sensor", "to": "parents"}
    assert flagged(con, data, rule) == [2]


def test_expression_null_passes(con):
    data = {"id": [1, 2, 3], "lo": [1, 5, None], "hi": [2, 4, 3]}
    rule = {"type": "expression", "sql": "lo <= hi", "name": "ordered"}
    assert flagged(con, data, rule) == [2]


def test_expression_trailing_comment_is_harmless(con):
    data = {"id": [1, 2], "v": [1, -1]}
    rule = {"type": "expression", "sql": "v > 0 -- positive", "name": "positive"}
    assert flagged(con, data, rule) == [2]


# --- table-level rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "failed"), [({"min": 3}, 0), ({"min": 4}, 1), ({"max": 2}, 1), ({"max": 3}, 0)]
)
def test_row_count(con, bounds, failed):
    _, _, report = run(con, {"id": [1, 2, 3]}, {"type": "row_count", **bounds})
    assert (report.rules[0].failed, report.rules[0].total) == (failed, 1)
    assert report.metrics["observed"] == {"row_count": 3}


@pytest.mark.parametrize(("age_hours", "failed"), [(1, 0), (30, 1)])
def test_freshness(con, age_hours, failed):
    con.execute(f"CREATE TABLE events AS SELECT now() - INTERVAL {age_hours} HOUR AS ts")
    rules = parse_rules([{"type": "freshness", "column": "ts", "max_age_hours": 24}])
    _, _, report = evaluate(con, "events", rules)
    assert report.rules[0].failed == failed
    assert isinstance(report.metrics["observed"]["freshness:ts"], str)


def test_freshness_fails_on_an_empty_table(con):
    con.execute("CREATE TABLE events (ts TIMESTAMPTZ)")
    rules = parse_rules([{"type": "freshness", "column": "ts", "max_age_hours": 1.5}])
    _, _, report = evaluate(con, "events", rules)
    assert report.rules[0].failed == 1
    assert report.metrics["observed"]["freshness:ts"] is None


def test_table_level_block_rule_failing_raises(con):
    with pytest.raises(QualityError, match=r"readings.*'row_count' failed \(observed 1\)"):
        run(
            con,
            {"id": [1]},
            {"type": "row_count", "min": 5, "severity": "block"},
            table_name="readings",
        )


# --- splitting, thresholds and the report -------------------------------------------------


def test_split_keeps_columns_and_lists_failed_rules(con):
    data = {"id": [1, 2, 3], "v": [5, None, 50]}
    passed, quarantined, report = run(
        con,
        data,
        {"type": "not_null", "column": "v", "severity": "block", "threshold": 0.5},
        {"type": "range", "column": "v", "max": 10, "severity": "warn"},
    )
    assert passed.column_names == ["id", "v", "_quality_warnings"]
    assert quarantined.column_names == ["id", "v", "_quality_failed_rules"]
    assert sorted(passed.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "v": 5, "_quality_warnings": None},
        {"id": 3, "v": 50, "_quality_warnings": "range:v"},
    ]
    assert quarantined.to_pylist() == [{"id": 2, "v": None, "_quality_failed_rules": "not_null:v"}]
    assert (report.total_rows, report.passed_rows, report.quarantined_rows) == (3, 2, 1)
    assert report.metrics["warned_rows"] == 1
    assert not con.sql("SELECT * FROM duckdb_tables() WHERE temporary").fetchall()


def test_several_failed_block_rules_are_comma_joined(con):
    data = {"id": [1, 2], "v": [-1, 1]}
    block = {"severity": "block", "threshold": 1.0}
    rules = [
        {"type": "range", "column": "v", "min": 0, **block},
        {"type": "expression", "sql": "v > 0", "name": "pos", **block},
    ]
    _, quarantined, _ = run(con, data, *rules)
    assert quarantined.column("_quality_failed_rules").to_pylist() == ["range:v,pos"]


def test_block_rule_over_threshold_raises_with_details(con):
    data = {"id": [1, 2, 3, 4], "v": [None, None, 1, 2]}
    rule = {"type": "not_null", "column": "v", "severity": "block", "threshold": 0.25}
    with pytest.raises(QualityCheckFailed) as info:
        run(con, data, rule, table_name="silver.readings")
    message = str(info.value)
    assert "silver.readings" in message and "'not_null:v'" in message
    assert "2 of 4 rows" in message and "25.0%" in message
    assert isinstance(info.value, QualityError)
    assert info.value.report.quarantined_rows == 2


def test_share_equal_to_threshold_only_quarantines(con):
    data = {"id": [1, 2, 3, 4], "v": [None, 1, 2, 3]}
    rule = {"type": "not_null", "column": "v", "severity": "block", "threshold": 0.25}
    _, quarantined, _ = run(con, data, rule)
    assert quarantined.num_rows == 1


def test_default_threshold_quarantines_without_failing(con):
    passed, quarantined, _ = run(
        con,
        {"id": [1, 2], "v": [None, 1]},
        {"type": "not_null", "column": "v", "severity": "block"},
    )
    assert (passed.num_rows, quarantined.num_rows) == (1, 1)


def test_zero_threshold_fails_on_any_block_failure(con):
    with pytest.raises(QualityError, match="1 of 2 rows"):
        run(
            con,
            {"id": [1, 2], "v": [None, 1]},
            {"type": "not_null", "column": "v", "severity": "block", "threshold": 0.0},
        )


def test_warn_rules_never_raise(con):
    _, _, report = run(con, {"id": [1, 2], "v": [None, None]}, {"type": "not_null", "column": "v"})
    assert report.rules[0].failed == 2


def test_score(con):
    data = {"id": [1, 2, 3, 4], "v": [None, 1, 1, 2]}
    _, _, report = run(
        con,
        data,
        {"type": "not_null", "column": "v"},  # 3/4 pass
        {"type": "unique", "columns": ["v"]},  # 2/4 pass (NULL passes, the two 1s fail)
        {"type": "row_count", "min": 10},  # fails: counts 0
    )
    assert report.score == pytest.approx(100 * (0.75 + 0.5 + 0) / 3, abs=0.01)


def test_score_is_100_without_rules_or_rows(con):
    _, _, report = run(con, {"id": [1]})
    assert report.score == 100.0
    con.execute("CREATE TABLE empty (id INTEGER)")
    rules = parse_rules([{"type": "not_null", "column": "id"}])
    passed, quarantined, report = evaluate(con, "empty", rules)
    assert (report.score, passed.num_rows, quarantined.num_rows) == (100.0, 0, 0)
    assert report.rules[0].failed == 0


def test_report_round_trips_through_json(con):
    _, _, report = run(
        con,
        {"id": [1, None]},
        {"type": "not_null", "column": "id"},
        {"type": "row_count", "max": 9},
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert QualityReport.from_dict(data) == report
    assert data["rules"][0] == {
        "name": "not_null:id",
        "type": "not_null",
        "severity": "warn",
        "column": "id",
        "failed": 1,
        "total": 2,
    }


@pytest.mark.parametrize(
    "rule",
    [
        {"type": "not_null", "column": "nope"},
        {"type": "relationships", "column": "id", "to": "missing_table"},
        {"type": "freshness", "column": "nope", "max_age_hours": 1},
    ],
)
def test_rules_that_do_not_fit_the_data_raise_config_error(con, rule):
    with pytest.raises(ConfigError, match="do not fit the data"):
        run(con, {"id": [1]}, rule)
    # The scratch table is gone, so the connection is clean for the next step.
    assert not con.sql("SELECT * FROM duckdb_tables() WHERE temporary").fetchall()


# --- parsing -----------------------------------------------------------------------------


def test_parse_rules_derives_names_and_defaults():
    rules = parse_rules(
        [
            {"type": "not_null", "column": "sensor_id", "severity": "block"},
            {"type": "unique", "columns": ["a", "b"]},
            {"type": "row_count", "min": 1},
            {"type": "expression", "sql": "a  >\n 0"},
        ]
    )
    assert [rule.name for rule in rules] == [
        "not_null:sensor_id",
        "unique:a+b",
        "row_count",
        "expression:a > 0",
    ]
    assert rules[0] == NotNull(column="sensor_id", severity="block")
    assert rules[1] == Unique(columns=("a", "b"))
    assert (rules[1].severity, rules[1].threshold) == ("warn", 1.0)


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        (
            {"type": "not_nul", "column": "a"},
            r"unknown rule type 'not_nul'.*did you mean 'not_null'",
        ),
        ({"type": "range", "column": "a", "mn": 1}, r"unknown key .*'mn'.*did you mean 'min'"),
        ({"type": "not_null", "column": "a", "severity": "blocker"}, r"did you mean 'block'"),
        ({"column": "a"}, r"has no type \(choices: accepted_values, "),
        ({"type": "not_null"}, r"is missing column"),
        ({"type": "unique", "columns": "a"}, r"columns must be a non-empty list of strings"),
        ({"type": "range", "column": "a"}, r"give min, max or both"),
        ({"type": "range", "column": "a", "min": 5, "max": 1}, r"min \(5\) is above max \(1\)"),
        ({"type": "range", "column": "a", "min": True}, r"min must be a finite number"),
        ({"type": "not_null", "column": "a", "threshold": 0.1}, r"threshold only applies"),
        ({"type": "not_null", "column": "a", "severity": "block", "threshold": 2}, "between 0"),
        ({"type": "row_count", "min": 1, "severity": "block", "threshold": 0.5}, "threshold"),
        ({"type": "expression", "sql": "a > ) 1"}, r"not a valid expression"),
        ({"type": "expression", "sql": "SELECT 1"}, r"one boolean expression"),
        ({"type": "expression", "sql": "coalesce(a, 0) > 1"}, r"has a comma"),
        ({"type": "freshness", "column": "ts", "max_age_hours": 0}, r"must be positive"),
        ({"type": "accepted_values", "column": "a", "values": ["x", 1]}, r"of strings, of numbers"),
        ({"type": "accepted_values", "column": "a", "values": [1, 2.5]}, None),
    ],
)
def test_parse_errors(item, pattern):
    if pattern is None:  # the control case: this one is valid
        assert parse_rules([item])
        return
    with pytest.raises(ConfigError, match=pattern):
        parse_rules([item])


def test_duplicate_names_are_rejected():
    with pytest.raises(ConfigError, match=r"two rules are named 'range:v'"):
        parse_rules([{"type": "range", "column": "v", "min": 0}] * 2)


def test_unknown_key_lists_the_valid_keys():
    with pytest.raises(ConfigError) as info:
        parse_rules([{"type": "regex", "column": "a", "pattern": "x", "patern": "y"}])
    assert "column, name, pattern, severity, threshold, type" in str(info.value)


# --- SQL portability ---------------------------------------------------------------------

ALL_RULES = [
    {"type": "not_null", "column": "sensor_id", "severity": "block"},
    {"type": "unique", "columns": ["sensor_id", "ts"]},
    {"type": "accepted_values", "column": "unit", "values": ["C", "it's"]},
    {"type": "range", "column": "reading", "min": -40, "max": 85.5, "inclusive": False},
    {"type": "range", "column": "day", "min": date(2024, 1, 1)},
    {"type": "regex", "column": "sensor_id", "pattern": r"^S-\d+$"},
    {"type": "relationships", "column": "sensor_id", "to": "silver.sensors", "field": "id"},
    {"type": "expression", "sql": "reading <> 0 OR unit IS NULL", "name": "nonzero"},
    {"type": "row_count", "min": 1, "max": 1000},
    {"type": "freshness", "column": "ts", "max_age_hours": 1.5},
]


def spark(sql: str) -> str:
    [out] = sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)
    return out


def test_every_compiled_rule_transpiles_to_spark():
    rules = parse_rules(ALL_RULES)
    for rule in rules:
        checks = compile_checks("bronze.readings", [rule])
        assert spark(checks).startswith("SELECT")
        for _, sql in compile_table_checks("bronze.readings", [rule]):
            assert "passed" in spark(sql)
    assert "RLIKE" in spark(compile_checks("t", rules))


def test_compile_checks_shape():
    sql = compile_checks("t", parse_rules([{"type": "not_null", "column": "a"}]))
    assert sql.startswith("SELECT _dq_t.*,") and "AS _dq_block" in sql and "AS _dq_warn" in sql
    table_checks = compile_table_checks("t", parse_rules(ALL_RULES))
    assert [rule.type for rule, _ in table_checks] == ["row_count", "freshness"]


def test_compiled_checks_run_on_duckdb(con):
    con.execute("CREATE SCHEMA silver")
    con.execute("CREATE TABLE silver.sensors AS SELECT 'S-1' AS id")
    con.execute(
        "CREATE TABLE readings AS SELECT 'S-1' AS sensor_id, now() AS ts, 'C' AS unit, "
        "20.0 AS reading, DATE '2024-02-01' AS day"
    )
    rules = parse_rules(ALL_RULES)
    passed, quarantined, report = evaluate(con, "readings", rules)
    assert (passed.num_rows, quarantined.num_rows, report.score) == (1, 0, 100.0)


# --- properties ---------------------------------------------------------------------------

values = st.lists(st.one_of(st.none(), st.integers(-20, 20)), max_size=30)
bound = st.one_of(st.none(), st.integers(-20, 20))


@settings(max_examples=60, deadline=None)
@given(values=values, low=bound, high=bound, inclusive=st.booleans())
def test_split_partitions_rows_like_python(values, low, high, inclusive):
    assume(low is not None or high is not None)
    assume(low is None or high is None or low <= high)
    rule: Rule = Range(
        column="v", min=low, max=high, inclusive=inclusive, severity="block", threshold=1.0
    )
    connection = duckdb.connect()
    try:
        connection.register("src", pa.table({"v": pa.array(values, pa.int64())}))
        passed, quarantined, report = evaluate(connection, "src", [rule])
    finally:
        connection.close()

    def fails(v: int | None) -> bool:
        if v is None:
            return False
        below = low is not None and (v < low if inclusive else v <= low)
        above = high is not None and (v > high if inclusive else v >= high)
        return below or above

    expected = sum(fails(v) for v in values)
    assert passed.num_rows + quarantined.num_rows == len(values) == report.total_rows
    assert quarantined.num_rows == expected == report.rules[0].failed
    assert sorted(quarantined.column("v").to_pylist()) == sorted(v for v in values if fails(v))


# --- the engine-side split ----------------------------------------------------------------


def test_split_leaves_views_over_one_checked_table(con):
    con.register("src", pa.table({"id": [1, 2, 3], "v": [5, None, 50]}))
    rules = parse_rules(
        [
            {"type": "not_null", "column": "v", "severity": "block", "threshold": 0.5},
            {"type": "row_count", "min": 1},
        ]
    )
    checked, report = split(
        con, "src", rules, passed="ok", quarantined="bad", table_name="t", warnings=False
    )
    assert (report.table, report.passed_rows, report.quarantined_rows) == ("t", 2, 1)
    assert report.metrics["observed"] == {"row_count": 3}
    assert con.sql("SELECT * FROM ok ORDER BY id").fetchall() == [(1, 5), (3, 50)]
    assert con.sql("SELECT * FROM bad").fetchall() == [(2, None, "not_null:v")]
    temp = "SELECT table_name FROM duckdb_tables() WHERE temporary"
    assert con.sql(temp).fetchall() == [(checked,)]
    con.execute(f"DROP VIEW ok; DROP VIEW bad; DROP TABLE {checked}")


def test_split_failure_leaves_nothing_behind(con):
    con.register("src", pa.table({"id": [None, 1]}))
    rule = {"type": "not_null", "column": "id", "severity": "block", "threshold": 0.0}
    with pytest.raises(QualityCheckFailed):
        split(con, "src", parse_rules([rule]), passed="ok", quarantined="bad")
    assert not con.sql("SELECT * FROM duckdb_tables() WHERE temporary").fetchall()
    assert not con.sql("SELECT * FROM duckdb_views() WHERE view_name IN ('ok', 'bad')").fetchall()
