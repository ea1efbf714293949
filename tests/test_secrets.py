"""Secret references: env, Fernet-encrypted values, AWS Secrets Manager (on moto), and the CLI.

Errors name the reference, never the value; pipeline options resolve references when used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from strata import secrets
from strata.errors import ConfigError
from strata.pipelines import get_pipeline

PLAIN = "postgresql://app:S3cret-Value@db.example:5432/shop"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = secrets.new_key()
    monkeypatch.setenv(secrets.KEY_VARIABLE, value)
    return value


def test_plain_values_pass_through() -> None:
    assert secrets.resolve("just-a-value") == "just-a-value"
    assert not secrets.is_reference(42)


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_DB", PLAIN)
    assert secrets.resolve("env:SHOP_DB") == PLAIN
    with pytest.raises(ConfigError, match="env:NOPE: the environment variable NOPE is not set"):
        secrets.resolve("env:NOPE")


def test_fernet_round_trip_and_wrong_key(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    token = secrets.encrypt(PLAIN)
    assert token.startswith("fernet:") and "S3cret" not in token
    assert secrets.resolve(token) == PLAIN
    monkeypatch.setenv(secrets.KEY_VARIABLE, secrets.new_key())
    with pytest.raises(ConfigError, match="cannot be decrypted") as raised:
        secrets.resolve(token)
    assert "S3cret" not in str(raised.value)
    monkeypatch.delenv(secrets.KEY_VARIABLE)
    with pytest.raises(ConfigError, match="STRATA_SECRET_KEY is not set"):
        secrets.resolve(token)
    monkeypatch.setenv(secrets.KEY_VARIABLE, "not-a-key")
    with pytest.raises(ConfigError, match="is not a Fernet key"):
        secrets.resolve(token)


def test_secrets_manager_on_moto(aws_env: str) -> None:
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=aws_env)
    client.create_secret(Name="dev/shop-url", SecretString=PLAIN)
    client.create_secret(Name="dev/shop", SecretString=json.dumps({"source_url": PLAIN}))
    assert secrets.resolve("aws-sm:dev/shop-url") == PLAIN
    assert secrets.resolve("aws-sm:dev/shop#source_url") == PLAIN
    with pytest.raises(ConfigError, match=r"aws-sm:dev/missing: .*ResourceNotFoundException"):
        secrets.resolve("aws-sm:dev/missing")
    with pytest.raises(ConfigError, match="no field 'nope'") as raised:
        secrets.resolve("aws-sm:dev/shop#nope")
    assert "S3cret" not in str(raised.value)


def test_pipeline_options_resolve_references(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE", "duckdb:///tmp/wh.duckdb")
    spec = get_pipeline("shopease")
    options = spec.options(
        {"source_url": secrets.encrypt(PLAIN), "warehouse_url": "env:WAREHOUSE", "batch_rows": 5000}
    )
    assert options.source_url == PLAIN  # type: ignore[attr-defined]
    assert options.warehouse_url == "duckdb:///tmp/wh.duckdb"  # type: ignore[attr-defined]


def run_cli(*args: str, stdin: str = "", env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strata", "secrets", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_key_encrypt_decrypt(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != secrets.KEY_VARIABLE}
    made = run_cli("key", env=env)
    assert made.returncode == 0, made.stderr
    env[secrets.KEY_VARIABLE] = made.stdout.strip()
    encrypted = run_cli("encrypt", "-", stdin=PLAIN + "\n", env=env)
    assert encrypted.returncode == 0, encrypted.stderr
    token = encrypted.stdout.strip()
    assert token.startswith("fernet:") and "S3cret" not in token
    decrypted = run_cli("decrypt", token, env=env)
    assert (decrypted.returncode, decrypted.stdout.strip()) == (0, PLAIN)
    env[secrets.KEY_VARIABLE] = secrets.new_key()
    wrong = run_cli("decrypt", token, env=env)
    assert wrong.returncode == 2
    assert "cannot be decrypted" in wrong.stderr and "S3cret" not in wrong.stderr + wrong.stdout
