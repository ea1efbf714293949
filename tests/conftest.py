"""Shared fixtures: the embedded API stand-in, a moto S3 server, settings on a temporary lake."""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strata.apis import Faults, StubServer, open_meteo_server
from strata.config import Settings, load_settings


@pytest.fixture
def api() -> Iterator[StubServer]:
    """A fresh Open-Meteo stand-in on 127.0.0.1 (set `api.faults` to inject failures)."""
    with open_meteo_server(faults=Faults()) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on 127.0.0.1: real HTTP S3/SQS/Glue APIs, no AWS account."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    return moto_endpoint


@pytest.fixture
def s3_bucket(aws_env: str, request: pytest.FixtureRequest) -> str:
    import boto3

    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    # The hash keeps long parametrised names that share their first 40 characters apart.
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    name = f"strata-{slug}-{digest}"
    boto3.client("s3", endpoint_url=aws_env).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    return name


def make_settings(tmp_path: Path, lake: str | None = None, **pipeline: Any) -> Settings:
    """Dev settings on a temporary lake; keyword arguments are smartsensor options."""
    options = {"sensors": 9, "days": 31, "check_retry_interval": 0.01, **pipeline}
    config = tmp_path / "strata.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.touch()
    return load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=lake or str(tmp_path / "lake"),
        state_dir=str(tmp_path / "state"),
        lease_ttl_seconds=5,
        pipelines={"smartsensor": options},
    )


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's STRATA_* variables."""
    for key in list(os.environ):
        if key.startswith("STRATA_"):
            monkeypatch.delenv(key)


PG_SERVER = os.environ.get("STRATA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_SERVER = os.environ.get("STRATA_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")


def _database_name(request: pytest.FixtureRequest) -> str:
    import uuid

    stem = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:30]
    return f"st_{stem}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server (dropped afterwards).

    The server must run (`.ci/run` starts it); a missing server fails the test, never skips it.
    """
    import adbc_driver_postgresql.dbapi as pg

    from strata.db import DatabaseUrl

    name = _database_name(request)
    admin = pg.connect(PG_SERVER, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield DatabaseUrl.parse(PG_SERVER).with_database(name).url
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def mysql_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty MariaDB/MySQL database on the local server (dropped afterwards)."""
    import pymysql

    from strata.db import DatabaseUrl

    name = _database_name(request)
    server = DatabaseUrl.parse(MYSQL_SERVER)
    admin = pymysql.connect(
        host=server.host, port=server.port or 3306, user=server.user, password=server.password or ""
    )
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield server.with_database(name).url
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()
