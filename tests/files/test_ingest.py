"""Landed files into bronze: good files load, bad ones go to the error prefix with a reason,
reruns ingest nothing, and a run that died between loading and finishing loses and doubles
nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from strata.catalog import LakeCatalog
from strata.catalog.local import TableRef
from strata.files import FileLedger, Landing
from strata.files.ingest import REASON_SUFFIX, LandingPlan, finish_files, land_files
from strata.lake.bronze import Bronze
from strata.lake.storage import Lake
from strata.pipelines.retail_marts.generate import sales_files

PLAN = LandingPlan("retail_marts")


@pytest.fixture(params=["local", "s3"])
def landing(request: pytest.FixtureRequest, tmp_path: Path) -> Landing:
    if request.param == "local":
        area = Landing(str(tmp_path / "landing"))
    else:
        area = Landing(f"s3://{request.getfixturevalue('s3_bucket')}/landing")
    for name, body in sales_files(big_rows=2000).values():
        area.write(f"sales_data/{name}", body)
    return area


def bronze_rows(lake: Lake) -> pa.Table:
    data = LakeCatalog(lake).read_bronze(TableRef("bronze", "retail_marts", "sales")).data
    return data.to_table() if not isinstance(data, pa.Table) else data


def test_good_files_load_and_bad_ones_are_rejected_with_reasons(
    landing: Landing, tmp_path: Path
) -> None:
    lake, ledger = Lake(str(tmp_path / "lake")), FileLedger(tmp_path / "state")
    bronze = Bronze(lake, "retail_marts", "sales")
    outcomes = land_files(landing, ledger, PLAN, bronze, "run-1")
    by_status: dict[str, set[str]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, set()).add(outcome.file.base_name)
    assert by_status["loaded"] == {
        "sales_data.csv",
        "sales_data_2023-05-15.csv",
        "sales_data_extra_column.csv",
        "sales_data_unknown_keys.csv",
    }
    assert len(by_status["rejected"]) == 5
    reason = landing.read("sales_data_error/sales_data_missing_store.csv" + REASON_SUFFIX)
    assert b"column store_id" in reason
    truncated = landing.read("sales_data_error/sales_data_truncated.csv" + REASON_SUFFIX)
    assert b"line 41" in truncated
    failed = {e.name: e for e in ledger.entries("retail_marts", "failed")}
    assert "not UTF-8" in str(failed["sales_data/sales_data_bad_encoding.csv"].reason)
    assert bronze_rows(lake).num_rows == 500 + 2000 + 1000 + 30

    finish_files(landing, ledger, PLAN, outcomes)
    assert sorted(f.name for f in landing.files("sales_data")) == []
    assert len(landing.files("sales_data_processed")) == 4
    assert len(ledger.entries("retail_marts", "processed")) == 4

    # The same files landing again are recognised by content and not ingested twice.
    for name, body in sales_files(big_rows=2000).values():
        landing.write(f"sales_data/{name}", body)
    again = land_files(landing, ledger, PLAN, bronze, "run-2")
    assert {o.status for o in again if o.file.base_name == "sales_data.csv"} == {"skipped"}
    assert bronze_rows(lake).num_rows == 3530


def test_a_run_that_died_before_finishing_is_completed_without_doubles(
    landing: Landing, tmp_path: Path
) -> None:
    lake, ledger = Lake(str(tmp_path / "lake")), FileLedger(tmp_path / "state")
    bronze = Bronze(lake, "retail_marts", "sales")
    land_files(landing, ledger, PLAN, bronze, "run-1")  # ... and run-1 dies here
    assert {e.run_id for e in ledger.abandoned("retail_marts", "run-2")} == {"run-1"}
    loads_before = [m.load_id for m in bronze.loads()]

    outcomes = land_files(landing, ledger, PLAN, bronze, "run-2")
    loaded = [o for o in outcomes if o.status == "loaded"]
    assert len(loaded) == 4 and all(o.recovered for o in loaded)
    assert sorted(o.load_id for o in loaded) == sorted(loads_before)  # found, not reloaded
    assert bronze_rows(lake).num_rows == 3530
    finish_files(landing, ledger, PLAN, outcomes)
    assert ledger.abandoned("retail_marts", "run-3") == []
    assert len(ledger.entries("retail_marts", "processed")) == 4


def test_a_run_that_died_while_finishing_leaves_no_file_active(
    landing: Landing, tmp_path: Path
) -> None:
    lake, ledger = Lake(str(tmp_path / "lake")), FileLedger(tmp_path / "state")
    bronze = Bronze(lake, "retail_marts", "sales")
    outcomes = land_files(landing, ledger, PLAN, bronze, "run-1")
    first = next(o for o in outcomes if o.file.base_name == "sales_data.csv")
    # run-1 dies inside finish_files: the ledger says processed, the move never happened.
    where = landing.where("sales_data_processed/sales_data.csv")
    ledger.finish("retail_marts", first.file.md5, "processed", location=where)

    again = land_files(landing, ledger, PLAN, bronze, "run-2")
    assert next(o for o in again if o.file.base_name == "sales_data.csv").status == "skipped"
    finish_files(landing, ledger, PLAN, again)
    assert landing.files("sales_data") == []
    assert ledger.entries("retail_marts", "active") == []
    assert len(ledger.entries("retail_marts", "processed")) == 4
