import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from strata.errors import ConfigError, SourceError
from strata.files.validate import SALES_COLUMNS, ColumnSpec, Problem, Verdict, validate_csv

HEADER = "customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost"
ROWS = [
    "1,121,quaker oats,2023-03-03,1,212,2,424",
    "7,122,sugar,2023-08-20,5,50.50,3,151.50",
    "20,123,refined oil,2023-05-01,9,110,1,110.00",
]


def csv_bytes(header: str = HEADER, rows: list[str] = ROWS, sep: str = "\n") -> bytes:
    return (sep.join([header, *rows]) + sep).encode()


def reasons(verdict: Verdict) -> list[str]:
    return [str(p) for p in verdict.problems]


def test_good_file_is_typed_with_line_numbers() -> None:
    v = validate_csv("sales_2023.csv", csv_bytes())
    assert v.ok and v.problems == [] and v.rows == 3
    assert v.delimiter == "," and v.encoding == "utf-8" and v.extra_columns == []
    assert v.table is not None
    assert v.table.column_names == [
        *(c.name for c in SALES_COLUMNS),
        "additional_column",
        "extra_columns",
        "_source_file",
        "_source_line",
    ]
    assert v.table.schema.field("price").type == pa.decimal128(10, 2)
    assert v.table.schema.field("total_cost").type == pa.decimal128(12, 2)
    assert v.table.schema.field("sales_date").type == pa.date32()
    second = v.table.to_pylist()[1]
    assert second == {
        "customer_id": 7,
        "store_id": 122,
        "product_name": "sugar",
        "sales_date": dt.date(2023, 8, 20),
        "sales_person_id": 5,
        "price": Decimal("50.50"),
        "quantity": 3,
        "total_cost": Decimal("151.50"),
        "additional_column": None,
        "extra_columns": None,
        "_source_file": "sales_2023.csv",
        "_source_line": 3,
    }
    assert v.table.column("_source_line").to_pylist() == [2, 3, 4]
    assert v.reason_text() == ""


def test_header_matched_case_insensitively_and_empty_values_are_null(tmp_path: Path) -> None:
    header = (
        " Customer_ID ,STORE_ID,product_name,sales_date,sales_person_id,price,quantity,total_cost"
    )
    path = tmp_path / "s.csv"
    path.write_bytes(csv_bytes(header, ["1,121,,2023-03-03,1, 212 ,,", "", "2,121,x,,1,1,1,1"]))
    v = validate_csv("s.csv", path)
    assert v.ok, reasons(v)
    assert v.table is not None
    rows = v.table.to_pylist()
    assert [r["_source_line"] for r in rows] == [2, 4]  # the blank line is skipped, but counted
    assert rows[0]["product_name"] is None and rows[0]["quantity"] is None
    assert rows[0]["price"] == Decimal("212.00")
    assert rows[1]["sales_date"] is None


def test_extra_column_is_kept() -> None:
    header = HEADER.replace("product_name,", "payment_mode,product_name,")
    rows = ["1,121,cash,sugar,2023-03-03,1,50,2,100", '2,122,"U""P,I",besan,2023-03-04,4,52,1,52']
    v = validate_csv("extra.csv", csv_bytes(header, rows))
    assert v.ok, reasons(v)
    assert v.extra_columns == ["payment_mode"]
    assert v.table is not None
    assert v.table.column("product_name").to_pylist() == ["sugar", "besan"]
    assert v.table.column("additional_column").to_pylist() == ["cash", 'U"P,I']
    payloads = [json.loads(s) for s in v.table.column("extra_columns").to_pylist()]
    assert payloads == [{"payment_mode": "cash"}, {"payment_mode": 'U"P,I'}]


def test_several_extra_columns_join_in_header_order() -> None:
    header = HEADER + ",payment_mode,Note"
    rows = [ROWS[0] + ',UPI,"tab\tand\nnewline"', ROWS[1] + ",,", ROWS[2] + ",,only note"]
    v = validate_csv("extra.csv", csv_bytes(header, rows))
    assert v.ok, reasons(v)
    assert v.extra_columns == ["payment_mode", "Note"]
    assert v.table is not None
    assert v.table.column("_source_line").to_pylist() == [2, 4, 5]
    joined = ["UPI, tab\tand\nnewline", None, "only note"]
    assert v.table.column("additional_column").to_pylist() == joined
    payloads = [json.loads(s) for s in v.table.column("extra_columns").to_pylist()]
    assert payloads == [
        {"payment_mode": "UPI", "Note": "tab\tand\nnewline"},
        {"payment_mode": None, "Note": None},
        {"payment_mode": None, "Note": "only note"},
    ]


def test_extra_values_with_control_characters_are_valid_json() -> None:
    v = validate_csv("bell.csv", csv_bytes(HEADER + ",note", [ROWS[0] + ",ring\x07"]))
    assert v.ok and v.table is not None
    assert json.loads(v.table.column("extra_columns")[0].as_py()) == {"note": "ring\x07"}


def test_missing_store_id_names_the_column() -> None:
    header = HEADER.replace("store_id,", "")
    v = validate_csv("less.csv", csv_bytes(header, ["1,quaker oats,2023-03-03,1,212,2,424"]))
    assert not v.ok and v.table is None
    assert v.problems == [
        Problem("less.csv", 1, "store_id", "required column 'store_id' is missing")
    ]
    assert v.reason_text() == (
        "less.csv line 1, column store_id: required column 'store_id' is missing\n"
    )


def test_duplicate_header_is_a_problem() -> None:
    v = validate_csv("dup.csv", csv_bytes(HEADER + ",Price", [ROWS[0] + ",1"]))
    assert not v.ok
    assert reasons(v) == ["dup.csv line 1, column Price: duplicate column name (columns 6 and 9)"]


def test_broken_encoding_reports_the_line() -> None:
    data = csv_bytes(rows=[*ROWS[:2], "3,121,caf\xe9,2023-03-03,1,20,1,20"]).replace(
        "caf\xe9".encode(), "caf\xe9".encode("latin-1")
    )
    v = validate_csv("latin.csv", data)
    assert not v.ok
    [problem] = v.problems
    assert problem.line == 4
    offset = data.index(b"\xe9")
    assert f"not UTF-8 at line 4, byte {offset}" in problem.message


def test_truncated_last_row_reports_the_line() -> None:
    data = csv_bytes(rows=[*ROWS, "5,121,sugar,2023-03"])[:-1]  # no final newline either
    v = validate_csv("cut.csv", data)
    assert not v.ok
    assert reasons(v) == ["cut.csv line 5: expected 8 fields, found 4 (truncated row?)"]
    assert v.rows == 4


def test_row_with_extra_delimiters() -> None:
    v = validate_csv("wide.csv", csv_bytes(rows=[ROWS[0], ROWS[1] + ",,"]))
    assert reasons(v) == ["wide.csv line 3: expected 8 fields, found 10"]


def test_unparseable_values_name_line_column_and_value() -> None:
    rows = [
        ROWS[0],
        "7,122,sugar,2023-08-20,5,abc,3,151.50",
        "8,12x,sugar,2023-02-30,5,1.505,3,151.50",
        "9,122,sugar,2023-08-20,5,1," + "9" * 60 + ",1",
    ]
    v = validate_csv("sales_2023.csv", csv_bytes(rows=rows))
    assert not v.ok and v.table is None
    assert reasons(v) == [
        "sales_2023.csv line 3, column price: 'abc' is not a decimal(10,2)",
        "sales_2023.csv line 4, column store_id: '12x' is not an integer",
        "sales_2023.csv line 4, column sales_date: '2023-02-30' is not a date (YYYY-MM-DD)",
        "sales_2023.csv line 4, column price: '1.505' is not a decimal(10,2)",
        f"sales_2023.csv line 5, column quantity: '{'9' * 40}…' is not an integer",
    ]


def test_problem_list_is_capped() -> None:
    rows = [f"{i},121,x,2023-03-03,1,bad,1,1" for i in range(30)]
    v = validate_csv("many.csv", csv_bytes(rows=rows), max_problems=10)
    assert len(v.problems) == 10 and v.more_problems == 20
    assert [p.line for p in v.problems] == list(range(2, 12))
    text = v.reason_text(limit=5).splitlines()
    assert len(text) == 6 and text[-1] == "… and 25 more"


def test_header_only_and_empty_file() -> None:
    v = validate_csv("head.csv", (HEADER + "\r\n").encode())
    assert not v.ok
    assert v.problems == [Problem("head.csv", 1, None, "no data rows (the file has only a header)")]
    v = validate_csv("empty.csv", b"")
    assert not v.ok and reasons(v) == ["empty.csv: empty file"]


def test_semicolon_delimited_crlf_file() -> None:
    rows = [r.replace(",", ";") for r in ROWS]
    rows[1] = rows[1].replace("50.50", "50,50")  # a comma inside a field is just text here
    rows[1] = rows[1].replace("sugar", "sugar, white")
    data = csv_bytes(HEADER.replace(",", ";"), [ROWS[0].replace(",", ";"), rows[2]], sep="\r\n")
    v = validate_csv("semi.csv", data)
    assert v.ok, reasons(v)
    assert v.delimiter == ";"
    assert v.table is not None and v.table.column("_source_line").to_pylist() == [2, 3]
    v = validate_csv("semi.csv", csv_bytes(HEADER.replace(",", ";"), [rows[1]]))
    assert reasons(v) == ["semi.csv line 2, column price: '50,50' is not a decimal(10,2)"]


def test_tab_and_pipe_delimiters() -> None:
    for sep in ("\t", "|"):
        v = validate_csv("t.csv", csv_bytes(HEADER.replace(",", sep), [ROWS[0].replace(",", sep)]))
        assert v.ok and v.delimiter == sep


def test_unknown_delimiter() -> None:
    v = validate_csv("odd.csv", b"customer_id:store_id\n1:2\n")
    assert not v.ok
    assert reasons(v) == ["odd.csv line 1: cannot detect the delimiter (tried ',' ';' '\\t' '|')"]


def test_utf8_bom_is_stripped() -> None:
    v = validate_csv(
        "bom.csv", b"\xef\xbb\xbf" + csv_bytes(rows=["1,121,caf\xe9,2023-03-03,1,2,1,2"])
    )
    assert v.ok, reasons(v)
    assert v.encoding == "utf-8-sig"
    assert v.table is not None
    assert v.table.column("customer_id").to_pylist() == [1]
    assert v.table.column("product_name").to_pylist() == ["caf\xe9"]


def test_quoted_fields_with_delimiters_and_newlines() -> None:
    rows = [
        '1,121,"oats, quaker",2023-03-03,1,212,2,424',
        '2,121,"two\nline ""name""",2023-03-03,1,212,2,424',
        "3,121,x,2023-03-03,1,212,2,oops",
    ]
    v = validate_csv("q.csv", csv_bytes(rows=rows))
    # the quoted newline makes row 2 span lines 3-4, so row 3 is on line 5
    assert reasons(v) == ["q.csv line 5, column total_cost: 'oops' is not a decimal(12,2)"]
    v = validate_csv("q.csv", csv_bytes(rows=rows[:2]))
    assert v.ok and v.table is not None
    assert v.table.column("product_name").to_pylist() == ["oats, quaker", 'two\nline "name"']
    assert v.table.column("_source_line").to_pylist() == [2, 3]


def test_custom_columns_and_bad_arguments(tmp_path: Path) -> None:
    v = validate_csv("c.csv", b"id,amount\n1,2.5\n", [ColumnSpec("id", pa.int32())])
    assert v.ok and v.extra_columns == ["amount"]
    assert v.table is not None and v.table.schema.field("id").type == pa.int32()
    with pytest.raises(ConfigError):
        validate_csv("c.csv", b"id\n1\n", [])
    with pytest.raises(ConfigError):
        validate_csv("c.csv", b"id\n1\n", max_problems=0)
    with pytest.raises(ConfigError):
        validate_csv("c.csv", "id\n1\n")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="cannot read"):
        validate_csv("gone.csv", tmp_path / "gone.csv")


def test_400k_row_file_validates() -> None:
    lines = [HEADER + ",payment_mode"]
    modes = ("cash", "UPI")
    lines += [
        f"{i % 20 + 1},{121 + i % 3},quaker oats,2023-03-{i % 28 + 1:02d},{i % 9 + 1},"
        f"212,{i % 10 + 1},{212 * (i % 10 + 1)},{modes[i % 2]}"
        for i in range(400_000)
    ]
    data = ("\n".join(lines) + "\n").encode()
    v = validate_csv("sales_data_2023-03-03.csv", data)
    assert v.ok, v.reason_text()
    assert v.rows == 400_000
    assert v.table is not None and v.table.num_rows == 400_000
    assert v.table.column("_source_line")[-1].as_py() == 400_001
    assert v.table.column("total_cost")[9].as_py() == Decimal("2120.00")
    assert v.table.column("additional_column")[1].as_py() == "UPI"


def test_exact_schema_names_the_extra_columns_and_the_order() -> None:
    columns = [ColumnSpec("a", pa.int64()), ColumnSpec("b", pa.string())]
    extra = validate_csv("x.csv", b"a,b,c\n1,x,2\n", columns, exact=True)
    assert not extra.ok and "extra ['c']" in extra.reason_text()
    swapped = validate_csv("x.csv", b"b,a\nx,1\n", columns, exact=True)
    assert not swapped.ok and "order differs" in swapped.reason_text()
    assert validate_csv("x.csv", b"a,b,c\n1,x,2\n", columns).ok  # not exact: c is kept
    assert validate_csv("x.csv", b"a,b\n1,x\n", columns, exact=True).ok
