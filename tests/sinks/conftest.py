"""Warehouse fixtures: one fresh database per test on each backend (real local servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.db import DatabaseUrl
from strata.sinks import Warehouse, open_warehouse
from strata.sinks.mysql import MySQLWarehouse

BACKENDS = ["postgresql", "mysql", "duckdb"]


def backend_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database of `kind` (the server fixtures drop it afterwards)."""
    if kind == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    if kind.startswith("mysql"):
        return str(request.getfixturevalue("mysql_url"))
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


def connect(kind: str, url: str) -> Warehouse:
    """open_warehouse, except "mysql-insert": MySQL staging with INSERT batches, no LOAD DATA."""
    if kind == "mysql-insert":
        return MySQLWarehouse(DatabaseUrl.parse(url), local_infile=False)
    return open_warehouse(url)


@pytest.fixture(params=BACKENDS)
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A warehouse on each backend."""
    with connect(request.param, backend_url(request.param, request, tmp_path)) as warehouse:
        yield warehouse


@pytest.fixture(params=["postgresql", "mysql", "mysql-insert", "duckdb"])
def any_wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """Like `wh`, plus MySQL staging through INSERT batches (servers without local_infile)."""
    with connect(request.param, backend_url(request.param, request, tmp_path)) as warehouse:
        yield warehouse
