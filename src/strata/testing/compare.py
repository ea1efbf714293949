"""Compare two Arrow tables as sets of rows, floats within a relative tolerance.

Used by end-to-end and engine-parity tests: two engines (or a resumed and a clean run) may sum
floats in another order, so exact equality would fail for reasons that do not matter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from strata.errors import StrataError


class TableMismatch(StrataError, AssertionError):
    """Two tables that should hold the same rows do not."""


def _close(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    return bool(a == b)


def _sorted_rows(table: pa.Table, keys: Sequence[str]) -> list[dict[str, Any]]:
    return table.sort_by([(k, "ascending") for k in keys]).to_pylist()


def assert_same_rows(
    left: pa.Table,
    right: pa.Table,
    keys: Sequence[str],
    *,
    rel: float = 1e-9,
    ignore: Iterable[str] = (),
) -> None:
    """Raise TableMismatch naming the first differing row and column."""
    skip = set(ignore)
    left_cols = [c for c in left.column_names if c not in skip]
    right_cols = [c for c in right.column_names if c not in skip]
    if sorted(left_cols) != sorted(right_cols):
        raise TableMismatch(f"columns differ: {sorted(left_cols)} vs {sorted(right_cols)}")
    if left.num_rows != right.num_rows:
        raise TableMismatch(f"row counts differ: {left.num_rows} vs {right.num_rows}")
    a_rows = _sorted_rows(left.select(left_cols), keys)
    b_rows = _sorted_rows(right.select(left_cols), keys)
    for a, b in zip(a_rows, b_rows, strict=True):
        for column in left_cols:
            if not _close(a[column], b[column], rel):
                key = {k: a[k] for k in keys}
                raise TableMismatch(f"row {key}: {column} = {a[column]!r} vs {b[column]!r}")
