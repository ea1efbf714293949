"""The one-pass read of `validate_csv` gives exactly the verdict of the full checks.

Each file is validated twice: as `validate_csv` does (the one-pass read first, the checks when
that read cannot settle the file) and with the checks alone; the verdicts must be the same.
"""

import random

import pyarrow as pa
import pytest

import strata.files.validate as validate_module
from strata.files.validate import ColumnSpec, Verdict, validate_csv

HEADER = "customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost"
GOOD = [
    "1,121,quaker oats,2023-03-03,1,212,2,424",
    "7,122,sugar,2023-08-20,5,50.50,3,151.50",
    "20,123,refined oil,2023-05-01,9,110,1,110.00",
]
OTHER_TYPES = (
    ColumnSpec("a", pa.int32()),
    ColumnSpec("d", pa.decimal128(5, 3)),
    ColumnSpec("t", pa.timestamp("s")),
    ColumnSpec("f", pa.float64()),
    ColumnSpec("u", pa.uint8()),
    ColumnSpec("s", pa.large_string()),
)


def _checks_only(monkeypatch: pytest.MonkeyPatch, *args: object, **kwargs: object) -> Verdict:
    with monkeypatch.context() as patch:
        patch.setattr(validate_module._Check, "check_body_fast", lambda self, body: None)
        return validate_csv(*args, **kwargs)  # type: ignore[arg-type]


def _same(one: Verdict, other: Verdict) -> bool:
    fields = ("ok", "problems", "rows", "extra_columns", "delimiter", "encoding", "more_problems")
    if any(getattr(one, f) != getattr(other, f) for f in fields):
        return False
    if one.table is None or other.table is None:
        return one.table is None and other.table is None
    if one.table.schema != other.table.schema:
        return False
    # NaN is not equal to itself in Table.equals: compare the values as text then
    return one.table.equals(other.table) or repr(one.table.to_pylist()) == repr(
        other.table.to_pylist()
    )


def _fast_taken(monkeypatch: pytest.MonkeyPatch, data: bytes) -> bool:
    taken: list[bool] = []
    fast = validate_module._Check.check_body_fast

    def spy(self: validate_module._Check, body: bytes) -> pa.Table | None:
        table = fast(self, body)
        taken.append(table is not None)
        return table

    with monkeypatch.context() as patch:
        patch.setattr(validate_module._Check, "check_body_fast", spy)
        validate_csv("f.csv", data)
    return taken == [True]


def _file(rows: list[str], header: str = HEADER, end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def _with(column: int, value: str) -> bytes:
    fields = GOOD[1].split(",")
    fields[column] = value
    return _file([GOOD[0], ",".join(fields), GOOD[2]])


def test_a_clean_file_is_settled_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _file(GOOD)
    assert _fast_taken(monkeypatch, data)
    assert _same(validate_csv("f.csv", data), _checks_only(monkeypatch, "f.csv", data))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (0, "+7"),  # the checks drop a leading +; the CSV reader refuses it
        (0, " 7 "),
        (0, "\u00a07"),
        (0, "0x10"),
        (0, "9223372036854775808"),
        (0, "7.0"),
        (0, " "),
        (3, " 2023-08-20"),
        (3, "2023-02-30"),
        (3, "2023-8-20"),
        (3, "2023-08-20 00:00:00"),
        (5, "50.505"),
        (5, " 50.50"),
        (5, "123456789.5"),  # 11 digits at scale 2: over decimal(10,2)'s precision
        (5, "1e2"),
        (5, "1E-2"),
        (5, "5e9"),  # fits as a number, not in the precision
        (5, "2e-94598964"),  # Arrow's text-to-decimal cast crashes on this exponent
        (5, "1e-1000"),
        (5, "+.5"),
        (5, "NaN"),
        (7, "12345678901"),  # the CSV reader's own decimal conversion would accept it
        (7, "-0.00"),
        (2, '"sugar, fine"'),
        (2, '"two\nlines"'),
        (2, ""),
    ],
)
def test_odd_values_get_the_verdict_of_the_checks(
    monkeypatch: pytest.MonkeyPatch, column: int, value: str
) -> None:
    data = _with(column, value)
    assert _same(validate_csv("f.csv", data), _checks_only(monkeypatch, "f.csv", data))


@pytest.mark.parametrize("value", ["2e-94598964", "1e-1000", "1e2"])
def test_a_decimal_with_an_exponent_is_a_problem_not_a_crash(value: str) -> None:
    verdict = validate_csv("f.csv", _with(5, value))
    assert not verdict.ok
    assert verdict.table is None
    assert any(p.column == "price" and p.line == 3 for p in verdict.problems)


@pytest.mark.parametrize(
    "data",
    [
        _file(GOOD, end="\r\n"),
        _file([GOOD[0], "", GOOD[1], ",,,,,,,", GOOD[2]]),  # blank rows: skipped, counted
        _file([GOOD[0], "1,121,sugar", GOOD[2]]),  # a short row
        _file([GOOD[0], GOOD[1] + ",x", GOOD[2]]),  # a long row
        _file([row + ",UPI" for row in GOOD], header=HEADER + ",payment_mode"),
        _file([row + ",,note" for row in GOOD], header=HEADER + ",payment_mode,Note"),
        _file([";".join(row.split(",")) for row in GOOD], header=HEADER.replace(",", ";")),
        b"\xef\xbb\xbf" + _file(GOOD),
        _file(GOOD)[:-1],  # no final line break
    ],
)
def test_shapes_get_the_verdict_of_the_checks(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    assert _same(validate_csv("f.csv", data), _checks_only(monkeypatch, "f.csv", data))


def test_other_column_types_get_the_verdict_of_the_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    header = ",".join(c.name for c in OTHER_TYPES)
    good = ["7", "1.500", "2023-05-15 10:00:00", "1.25", "255", "text"]
    odd = ["+7", "99.5", "2023-05-15", "nan", "256", " pad ", "-1", "1.5e0", ""]
    rng = random.Random(7)
    for _ in range(60):
        rows = [
            ",".join(rng.choice(odd) if rng.random() < 0.1 else v for v in good) for _ in range(8)
        ]
        data = _file(rows, header=header)
        fast = validate_csv("f.csv", data, OTHER_TYPES)
        assert _same(fast, _checks_only(monkeypatch, "f.csv", data, OTHER_TYPES)), data


def test_random_sales_files_get_the_verdict_of_the_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    odd = ["", " ", "+5", "-0", "5.0", "1e2", "2023-02-30", "abc", "1.505", " 7", "00012"]
    rng = random.Random(42)
    for _ in range(100):
        rows = []
        for _ in range(rng.randint(1, 12)):
            fields = rng.choice(GOOD).split(",")
            if rng.random() < 0.3:
                fields[rng.randrange(len(fields))] = rng.choice(odd)
            rows.append(",".join(fields))
        data = _file(rows)
        assert _same(validate_csv("f.csv", data), _checks_only(monkeypatch, "f.csv", data)), data
