"""Landed files into bronze: claim, validate, load or reject, and finish once downstream is done.

`land_files` takes every file under the landing prefix that the ledger has not processed:
a valid file becomes a bronze load (its MD5 and name in the manifest's source position, and
on every row as `_source_md5` beside `_source_file` and `_source_line`) and
stays `active` in the ledger; an invalid one moves to the error prefix with a reason file
beside it (`<name>.reason.txt`: file, line, column of each problem) and is marked `failed`.
`finish_files`, called after the run's later steps succeeded, moves the loaded files to the
processed prefix and marks them `processed`. A run that dies in between leaves its files
`active`: the next run reclaims them, finds their bronze load by MD5 instead of loading them
twice, and finishes them. Nothing is lost, nothing is doubled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from strata.files.landing import LandedFile, Landing
from strata.files.ledger import FileLedger
from strata.files.validate import SALES_COLUMNS, ColumnSpec, validate_csv
from strata.lake.bronze import Bronze

REASON_SUFFIX = ".reason.txt"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one landed file in this run."""

    file: LandedFile
    status: str  # loaded | rejected | skipped
    reason: str | None = None
    load_id: int | None = None
    rows: int = 0
    recovered: bool = False
    location: str = ""


@dataclass(frozen=True)
class LandingPlan:
    """Where a pipeline's files arrive and go. `processed=None` leaves finished files where
    they are (a raw zone that keeps them); `exact` demands exactly `columns`, in order."""

    pipeline: str
    incoming: str = "sales_data"
    processed: str | None = "sales_data_processed"
    errors: str = "sales_data_error"
    columns: Sequence[ColumnSpec] = SALES_COLUMNS
    exact: bool = False


def _loaded_before(bronze: Bronze, md5: str) -> tuple[int, int] | None:
    """The bronze load (id, rows) that already holds the file with this MD5, if any."""
    for manifest in bronze.loads():
        if manifest.source_position.get("md5") == md5:
            return manifest.load_id, manifest.rows
    return None


def _reject(
    landing: Landing, ledger: FileLedger, plan: LandingPlan, file: LandedFile, reason: str
) -> FileOutcome:
    moved = landing.move(file.name, plan.errors, plan.incoming)
    landing.write(moved + REASON_SUFFIX, reason.encode())
    where = landing.where(moved)
    ledger.finish(plan.pipeline, file.md5, "failed", reason.splitlines()[0], where)
    return FileOutcome(file, "rejected", reason.splitlines()[0], location=where)


def _land_one(
    landing: Landing,
    ledger: FileLedger,
    plan: LandingPlan,
    bronze: Bronze,
    file: LandedFile,
    run_id: str,
) -> FileOutcome:
    claim = ledger.claim(plan.pipeline, file, landing.where(file.name), run_id)
    if claim is None:
        return FileOutcome(file, "skipped", "the same content was processed before")
    earlier = _loaded_before(bronze, file.md5)
    if earlier is not None:  # a dead run loaded it but did not finish it
        return FileOutcome(file, "loaded", None, earlier[0], earlier[1], claim.recovered)
    verdict = validate_csv(file.base_name, landing.read(file.name), plan.columns, exact=plan.exact)
    if not verdict.ok or verdict.table is None:
        return _reject(landing, ledger, plan, file, verdict.reason_text())
    rows = verdict.table.append_column("_source_md5", pa.repeat(file.md5, verdict.table.num_rows))
    manifest = bronze.write_batches(
        file.base_name.rsplit(".", 1)[0],
        rows.to_reader(),
        run_id=run_id,
        source_position={"file": file.name, "md5": file.md5, "size": file.size},
    )
    load_id = manifest.load_id if manifest is not None else None
    return FileOutcome(file, "loaded", None, load_id, verdict.rows, claim.recovered)


def land_files(
    landing: Landing,
    ledger: FileLedger,
    plan: LandingPlan,
    bronze: Bronze,
    run_id: str,
    on_outcome: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """Every file under `plan.incoming` not processed before: loaded into `bronze`, or
    rejected to `plan.errors` with its reason. Good files go on even when others fail.
    `on_outcome` hears of each file as it is done (progress displays)."""
    outcomes = []
    for file in landing.files(plan.incoming):
        if file.name.endswith(REASON_SUFFIX):
            continue
        outcome = _land_one(landing, ledger, plan, bronze, file, run_id)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


LANDED = "landed"
"""The key of `RunContext.outputs` under which a land step leaves its outcomes."""


def landed_outcomes(
    outputs: Mapping[str, Any], landing: Landing, ledger: FileLedger, plan: LandingPlan
) -> list[FileOutcome]:
    """The outcomes the land step left in `outputs`, or — when the finish step runs apart from
    it, as a task of its own (Step Functions) — the files the ledger holds `active` that are
    still in the landing area: landed, not finished (the lease keeps other runs out)."""
    if LANDED in outputs:
        return list(outputs[LANDED])
    return [
        FileOutcome(LandedFile(entry.name, entry.size, entry.md5), "loaded")
        for entry in ledger.entries(plan.pipeline, "active")
        if landing.exists(entry.name)
    ]


def finish_files(
    landing: Landing, ledger: FileLedger, plan: LandingPlan, outcomes: Sequence[FileOutcome]
) -> None:
    """After the run's later steps succeeded: loaded files `processed` in the ledger, then
    moved to `plan.processed`. Files skipped as already processed leave the incoming prefix
    too. In that order a crash between the two leaves a processed file in the incoming
    prefix, which the next run skips and moves; never an `active` file nobody looks at."""
    for outcome in outcomes:
        if outcome.status not in ("loaded", "skipped"):
            continue
        name = outcome.file.name
        target = name
        if plan.processed is not None:
            target = landing.moved_name(name, plan.processed, plan.incoming)
        if outcome.status == "loaded":
            where = landing.where(target)
            ledger.finish(plan.pipeline, outcome.file.md5, "processed", location=where)
        if target != name:
            landing.move(name, plan.processed or "", plan.incoming)
