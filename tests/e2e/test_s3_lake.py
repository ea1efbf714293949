"""The same pipeline on an S3 lake: moto in server mode on 127.0.0.1 (real HTTP S3 API)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3

from strata.apis import StubServer
from strata.session import query, run_pipeline
from strata.testing import assert_same_rows
from tests.conftest import make_settings

START, END = dt.date(2024, 6, 1), dt.date(2024, 6, 20)


def test_smartsensor_on_s3_matches_local(
    tmp_path: Path, api: StubServer, s3_bucket: str, aws_env: str
) -> None:
    s3 = make_settings(tmp_path / "s3", lake=f"s3://{s3_bucket}/lake", api_url=api.url)
    local = make_settings(tmp_path / "local", api_url=api.url)
    for settings in (s3, local):
        record = run_pipeline("smartsensor", settings=settings, start_date=START, end_date=END)
        assert record.status == "succeeded", record.error

    keys = boto3.client("s3", endpoint_url=aws_env).list_objects_v2(
        Bucket=s3_bucket, Prefix="lake/"
    )["Contents"]
    names = {k["Key"] for k in keys}
    assert any(n.startswith("lake/silver/smartsensor/sensor_readings/_delta_log/") for n in names)
    assert any(
        n.startswith("lake/bronze/smartsensor/responses/load_id=") and n.endswith("_manifest.json")
        for n in names
    )
    assert any(n.startswith("lake/_runs/smartsensor/") for n in names)

    for name, keys_ in [
        ("silver.smartsensor.sensor_readings", ("dt", "sensor_id")),
        ("smartsensor.regional_daily", ("region", "dt")),
    ]:
        assert_same_rows(
            query(f"SELECT * FROM {name}", s3),
            query(f"SELECT * FROM {name}", local),
            keys_,
            ignore=("processed_at", "ingestion_timestamp"),
        )

    again = run_pipeline("smartsensor", settings=s3, start_date=START, end_date=END)
    assert again.metrics["extract"]["rows_out"] == 0
    count = query("SELECT count(*) AS n FROM silver.smartsensor.sensor_readings", s3)
    assert count.to_pylist() == [{"n": 9 * 20}]
