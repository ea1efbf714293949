"""Secrets in settings: references resolved at the last moment, never written down.

A setting or pipeline option may hold, instead of the secret itself:

- `env:NAME` — the environment variable NAME (or `.env`, as the settings read it);
- `fernet:TOKEN` — a value encrypted with Fernet (`strata secrets encrypt`), decrypted with
  the key in `STRATA_SECRET_KEY` (`strata secrets key` makes one); the token can sit in
  `strata.toml` or in git, the key cannot;
- `aws-sm:SECRET_ID` or `aws-sm:SECRET_ID#FIELD` — AWS Secrets Manager (a JSON secret's field,
  e.g. `aws-sm:prod/shopease#source_url`), with the standard AWS credential chain and
  `AWS_ENDPOINT_URL` for local endpoints.

Anything else is taken as the value itself. Errors name the reference, never the value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from strata.errors import ConfigError, MissingDependency

KEY_VARIABLE = "STRATA_SECRET_KEY"
ENV, FERNET, SECRETS_MANAGER = "env:", "fernet:", "aws-sm:"
SCHEMES = (ENV, FERNET, SECRETS_MANAGER)


def is_reference(value: object) -> bool:
    """Whether `value` is a secret reference rather than a plain value."""
    return isinstance(value, str) and value.startswith(SCHEMES)


def new_key() -> str:
    """A new Fernet key (url-safe base64, 32 bytes): keep it in `STRATA_SECRET_KEY`."""
    return Fernet.generate_key().decode()


def _fernet(key: str | None) -> Fernet:
    key = key or os.environ.get(KEY_VARIABLE)
    if not key:
        raise ConfigError(f"{KEY_VARIABLE} is not set: it holds the key for fernet: values")
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise ConfigError(f"{KEY_VARIABLE} is not a Fernet key ({exc})") from exc


def encrypt(plaintext: str, key: str | None = None) -> str:
    """`plaintext` as a `fernet:` reference, encrypted with `key` (default: the env key)."""
    return FERNET + _fernet(key).encrypt(plaintext.encode()).decode()


def decrypt(token: str, key: str | None = None) -> str:
    """The plaintext of a `fernet:` reference (or a bare token)."""
    bare = token.removeprefix(FERNET)
    try:
        return _fernet(key).decrypt(bare.encode()).decode()
    except InvalidToken as exc:
        raise ConfigError(
            f"a fernet: value cannot be decrypted with {KEY_VARIABLE} (another key, or damaged)"
        ) from exc


def _from_env(name: str, env: Mapping[str, str]) -> str:
    if name not in env:
        raise ConfigError(f"secret env:{name}: the environment variable {name} is not set")
    return env[name]


def _from_secrets_manager(reference: str, region: str | None) -> str:
    secret_id, _, field = reference.partition("#")
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ModuleNotFoundError as exc:
        raise MissingDependency("boto3", "aws") from exc
    where = f"{SECRETS_MANAGER}{reference}"
    try:
        client = boto3.client("secretsmanager", region_name=region)
        value = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConfigError(f"secret {where}: Secrets Manager says {code}") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"secret {where}: Secrets Manager unreachable ({exc})") from exc
    text = str(value.get("SecretString") or "")
    if not field:
        return text
    try:
        document = json.loads(text)
        return str(document[field])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"secret {where}: no field {field!r} in a JSON secret") from exc


def resolve(value: str, env: Mapping[str, str] | None = None, region: str | None = None) -> str:
    """The secret `value` refers to (or `value` itself when it is not a reference)."""
    if value.startswith(ENV):
        return _from_env(value[len(ENV) :], os.environ if env is None else env)
    if value.startswith(FERNET):
        return decrypt(value)
    if value.startswith(SECRETS_MANAGER):
        return _from_secrets_manager(value[len(SECRETS_MANAGER) :], region)
    return value


def resolve_all(values: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    """`values` with every secret reference among its strings (nested too) resolved."""

    def visit(value: Any) -> Any:
        if isinstance(value, str):
            return resolve(value, region=region)
        if isinstance(value, Mapping):
            return {k: visit(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(visit(v) for v in value)
        return value

    return {key: visit(value) for key, value in values.items()}
