"""retail_marts side by side: `strata run retail_marts` against the seed's approach in pandas.

    .venv/bin/python bench/retail_marts.py [--rows 400000] [--repeat 2] [--database NAME]

Needs a local MariaDB/MySQL (127.0.0.1:3306, user root, no password). Both sides take the same
work from the same starting point: one landed file, the seed generator's one-date file
(`sales_files(42, rows)["one_date"]`, 400,000 rows by default, written once), alone in a fresh
landing folder under `sales_data/`; the four dimension tables (`create_dimensions`) in a fresh
database `bench_retail_marts` (dropped and recreated before every side, dropped at the end).
Each side then validates and ingests the file, enriches it with the dimensions, computes both
marts, writes the partitioned Parquet output, loads the marts into MariaDB, keeps the seed's
`product_staging_table` (A, then I) and moves the file to `sales_data_processed/`.

* strata: `strata run retail_marts --lake <fresh folder> --quiet` as a process of its own, the
  landing area, dimensions and warehouse pointed at the folder and database through
  `STRATA_RETAIL_MARTS__*` variables (`generate_if_empty = false`), state in a fresh folder.
  Every line is validated (encoding, shape, types), bronze Parquet, silver Delta with the
  quality rules (keys checked against the dimensions), gold Delta marts (the sales-team mart
  partitioned by `sales_month`, `store_id`), merged into MariaDB.
* seed: the seed's `main.py` (seed-specs section 4; Spark there) written in pandas, as a Python
  process of its own (`--side seed-job`): list the landing folder, per-file header check
  against the 8 mandatory columns (`read_csv(nrows=0)`), staging rows `A`, `read_csv` of each
  good file with extra columns folded into `additional_column` and unioned onto the (empty)
  `empty_df_create_table`, `read_sql` of the dimension tables (SQLAlchemy + PyMySQL), the three
  inner joins of `dimension_tables_join.py`, both mart inputs written as Parquet (the
  sales-team one also with `partition_cols=["sales_month", "store_id"]`), customer mart
  (groupby customer and month, sum) and sales-team mart (groupby store, salesperson and month,
  rank per store and month, 1% incentive for rank 1) appended with `to_sql(if_exists="append")`
  to the seed's mart tables, files moved to `sales_data_processed/`, staging rows set to `I`.
  It reads the landing folder in place (the seed downloads from S3 first) and uploads nothing.
  The seed's DDL (staging table, `empty_df_create_table`, the two mart tables) is created
  before the clock starts, as the seed's `table_scripts.sql` is run once by hand; the seed
  declares `customers_data_mart.sales_date_month` DATE yet writes `YYYY-MM`, so it is
  VARCHAR(10) here.

Wall time and peak RSS are those of the measured process from its start to its exit
(`os.wait4`: `ru_maxrss` of that child): interpreter start-up and imports count on both sides.
Generation, database reset and copying the file into the landing folder are never timed.
Imports are a large part of both sides, and depend on whether modules load from compiled
bytecode: `--bytecode warm` (the default) gives both sides' processes a bytecode cache of this
run's own (`PYTHONPYCACHEPREFIX`, the venv is not touched), filled by one untimed warm-up run
of each side, as after a normal install; `--bytecode as-is` keeps the environment's setting
(where PYTHONDONTWRITEBYTECODE is set and the venv holds no `__pycache__`, every process
compiles every module it imports, which adds seconds to each side).
After each side, the two mart tables are read back from MariaDB: row counts and the sums of
`total_sales` and `incentive` must be the same for both sides, or the benchmark fails. Sides
alternate (strata, seed, strata, seed, ...) and the best of `--repeat` runs counts; every run's
time is printed, and the load average before and after each side is recorded (other work on
the machine skews wall times). Strata's own time per step comes from its run report
(`<lake>/_runs/retail_marts/<run id>.json`); start-up is the time from launching the process
to the run's start, exit the time from the run's end to the process's exit.

The last line on stdout is one JSON object; `ratio` is the seed approach's wall time over
Strata's (target: >= 10x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from itertools import zip_longest
from pathlib import Path
from typing import Any

# Only the standard library at module level: `--side seed-job` runs this file as the seed's
# process, which must not pay for imports the seed would not make (rich, strata, ...).

SERVER = "mysql://root@127.0.0.1:3306/"
DATABASE = "bench_retail_marts"
ROWS = 400_000
REPEAT = 2
TARGET_SPEEDUP = 10.0
SIDE_TIMEOUT = 900.0
STRATA = Path(sys.executable).with_name("strata")
INCOMING, PROCESSED, ERROR = "sales_data", "sales_data_processed", "sales_data_error"
MANDATORY = [
    "customer_id",
    "store_id",
    "product_name",
    "sales_date",
    "sales_person_id",
    "price",
    "quantity",
    "total_cost",
]
# The seed's table_scripts.sql for the tables its main.py writes to (and the forks' definition
# of `empty_df_create_table`, which the original DDL lacks).
SEED_DDL = [
    """CREATE TABLE product_staging_table (
        id INT AUTO_INCREMENT PRIMARY KEY, file_name VARCHAR(255), file_location VARCHAR(255),
        created_date TIMESTAMP NULL, updated_date TIMESTAMP NULL, status VARCHAR(1))""",
    """CREATE TABLE empty_df_create_table (
        customer_id INT, store_id INT, product_name VARCHAR(255), sales_date DATE,
        sales_person_id INT, price FLOAT, quantity INT, total_cost FLOAT,
        additional_column VARCHAR(255))""",
    """CREATE TABLE customers_data_mart (
        customer_id INT, full_name VARCHAR(100), address VARCHAR(200),
        phone_number VARCHAR(20), sales_date_month VARCHAR(10), total_sales DECIMAL(10, 2))""",
    """CREATE TABLE sales_team_data_mart (
        store_id INT, sales_person_id INT, full_name VARCHAR(255), sales_month VARCHAR(10),
        total_sales DECIMAL(10, 2), incentive DECIMAL(10, 2))""",
]
MART_TOTALS = {
    "customers_data_mart": "SELECT count(*), sum(total_sales), 0 FROM customers_data_mart",
    "sales_team_data_mart": (
        "SELECT count(*), sum(total_sales), sum(incentive) FROM sales_team_data_mart"
    ),
}


# --- the seed's approach in pandas (runs as its own process: `--side seed-job`) -------------


def seed_job(args: argparse.Namespace) -> dict[str, Any]:
    """The seed's main.py in pandas; returns the phase times (seconds) and row counts."""
    started_at = time.time()
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    import pandas as pd
    import pymysql
    import sqlalchemy

    phase("import pandas, sqlalchemy, pymysql")

    landing = Path(args.landing)
    out = Path(args.workdir) / "seed_out"
    incoming = landing / INCOMING
    conn_args = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
    db = args.database

    # List the source prefix; CSVs to check, anything else is an error file.
    names = sorted(n for n in os.listdir(incoming) if not n.endswith("/"))
    if not names:
        raise RuntimeError("No Data available to process")
    csv_files = [incoming / n for n in names if n.endswith(".csv")]
    error_files = [incoming / n for n in names if not n.endswith(".csv")]
    # Header check: a file missing a mandatory column is an error file.
    correct_files = []
    for path in csv_files:
        columns = pd.read_csv(path, nrows=0).columns
        missing = set(MANDATORY) - set(columns)
        (error_files if missing else correct_files).append(path)
    if error_files:
        (landing / ERROR).mkdir(exist_ok=True)
        for path in error_files:
            shutil.move(path, landing / ERROR / path.name)
    if not correct_files:
        raise RuntimeError("No Data available with correct files")
    phase("list files, header check")

    # Staging rows 'A', one INSERT and commit per file.
    formatted_date = time.strftime("%Y-%m-%d %H:%M:%S")
    connection = pymysql.connect(database=db, **conn_args)
    with connection.cursor() as cursor:
        for path in correct_files:
            cursor.execute(
                "INSERT INTO product_staging_table (file_name, file_location, created_date, "
                f"status) VALUES ('{path.name}', '{path.name}', '{formatted_date}', 'A')"
            )
            connection.commit()
    connection.close()
    phase("staging rows A")

    engine = sqlalchemy.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{db}")
    frames = [pd.read_sql("SELECT * FROM empty_df_create_table", engine)]
    for path in correct_files:
        data = pd.read_csv(path)
        extra = [c for c in data.columns if c not in MANDATORY]
        if extra:
            data["additional_column"] = data[extra].astype(str).agg(", ".join, axis=1)
        else:
            data["additional_column"] = None
        frames.append(data[[*MANDATORY, "additional_column"]])
    final_df = pd.concat([f for f in frames if len(f)], ignore_index=True)
    phase("read CSV, additional_column, union")

    customer = pd.read_sql("SELECT * FROM customer", engine)
    pd.read_sql("SELECT * FROM product", engine)  # read, unused, as in the seed
    pd.read_sql("SELECT * FROM product_staging_table", engine)  # likewise
    sales_team = pd.read_sql("SELECT * FROM sales_team", engine)
    store = pd.read_sql("SELECT * FROM store", engine)
    phase("read_sql dimension tables")

    # dimension_tables_join.py: three inner joins, dropping what the seed drops.
    joined = final_df.merge(customer, on="customer_id", how="inner").drop(
        columns=["product_name", "price", "quantity", "additional_column", "customer_joining_date"]
    )
    store = store.rename(columns={"id": "store_key", "address": "store_address"})
    joined = joined.merge(store, left_on="store_id", right_on="store_key", how="inner").drop(
        columns=["store_key", "store_pincode", "store_opening_date", "reviews"]
    )
    team = sales_team.rename(
        columns={
            "id": "team_key",
            "first_name": "sales_person_first_name",
            "last_name": "sales_person_last_name",
            "address": "sales_person_address",
            "pincode": "sales_person_pincode",
        }
    )
    joined = joined.merge(team, left_on="sales_person_id", right_on="team_key", how="inner").drop(
        columns=["team_key"]
    )
    phase("joins (customer, store, sales_team)")

    customer_input = joined[
        [
            "customer_id",
            "first_name",
            "last_name",
            "address",
            "pincode",
            "phone_number",
            "sales_date",
            "total_cost",
        ]
    ]
    (out / "customer_data_mart").mkdir(parents=True)
    customer_input.to_parquet(out / "customer_data_mart" / "part-0.parquet", index=False)
    sales_input = joined[
        [
            "store_id",
            "sales_person_id",
            "sales_person_first_name",
            "sales_person_last_name",
            "store_manager_name",
            "manager_id",
            "is_manager",
            "sales_person_address",
            "sales_person_pincode",
            "sales_date",
            "total_cost",
        ]
    ].assign(sales_month=joined["sales_date"].astype(str).str[:7])
    (out / "sales_team_data_mart").mkdir(parents=True)
    sales_input.to_parquet(out / "sales_team_data_mart" / "part-0.parquet", index=False)
    sales_input.to_parquet(
        out / "sales_partition_data", partition_cols=["sales_month", "store_id"], index=False
    )
    phase("mart inputs to Parquet (+ partitioned)")

    # customer_mart_sql_tranform_write.py: total per customer and month, appended.
    customers = (
        customer_input.assign(sales_date_month=customer_input["sales_date"].astype(str).str[:7])
        .groupby(
            [
                "customer_id",
                "first_name",
                "last_name",
                "address",
                "phone_number",
                "sales_date_month",
            ]
        )["total_cost"]
        .sum()
        .reset_index()
    )
    customers["full_name"] = customers["first_name"] + " " + customers["last_name"]
    customer_mart = customers.rename(columns={"total_cost": "total_sales"})[
        ["customer_id", "full_name", "address", "phone_number", "sales_date_month", "total_sales"]
    ]
    customer_mart.to_sql("customers_data_mart", engine, if_exists="append", index=False)
    phase("customer mart, to_sql append")

    # sales_mart_sql_transform_write.py: total per salesperson and month, rank in store and
    # month, 1% incentive for rank 1 (ties included), appended.
    team_totals = (
        sales_input.groupby(
            [
                "store_id",
                "sales_person_id",
                "sales_person_first_name",
                "sales_person_last_name",
                "sales_month",
            ]
        )["total_cost"]
        .sum()
        .reset_index()
        .rename(columns={"total_cost": "total_sales"})
    )
    team_totals["full_name"] = (
        team_totals["sales_person_first_name"] + " " + team_totals["sales_person_last_name"]
    )
    rank = team_totals.groupby(["store_id", "sales_month"])["total_sales"].rank(
        method="min", ascending=False
    )
    team_totals["incentive"] = (team_totals["total_sales"] * 0.01).where(rank == 1, 0).round(2)
    sales_mart = team_totals[
        ["store_id", "sales_person_id", "full_name", "sales_month", "total_sales", "incentive"]
    ]
    sales_mart.to_sql("sales_team_data_mart", engine, if_exists="append", index=False)
    engine.dispose()
    phase("sales-team mart, to_sql append")

    # Everything under the source prefix to the processed prefix.
    (landing / PROCESSED).mkdir(exist_ok=True)
    for name in os.listdir(incoming):
        shutil.move(incoming / name, landing / PROCESSED / name)
    phase("move files to processed")

    connection = pymysql.connect(database=db, **conn_args)
    with connection.cursor() as cursor:
        for path in correct_files:
            cursor.execute(
                "UPDATE product_staging_table SET status = 'I', "
                f"updated_date = '{formatted_date}' WHERE file_name = '{path.name}'"
            )
            connection.commit()
    connection.close()
    phase("staging rows I")

    return {
        "started_at": started_at,
        "ended_at": time.time(),
        "phases_s": phases,
        "rows_in": len(final_df),
        "rows_joined": len(joined),
        "files": [p.name for p in correct_files],
    }


# --- helpers of the measured sides ----------------------------------------------------------


def _connect(database: str | None = None) -> Any:
    from strata.db.mysql import connect_mysql

    return connect_mysql(SERVER + (database or ""), database=database is not None, autocommit=True)


def _reset_database(database: str, drop_only: bool = False) -> None:
    con = _connect()
    try:
        with con.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            if not drop_only:
                cur.execute(f"CREATE DATABASE `{database}`")
    finally:
        con.close()


def _prepare(args: argparse.Namespace, seed_tables: bool) -> Path:
    """Fresh database with the dimensions (+ the seed's DDL), the file in a fresh landing
    folder; returns the landing folder. Never timed."""
    from strata.pipelines.retail_marts.generate import create_dimensions

    _reset_database(args.database)
    create_dimensions(SERVER + args.database)
    if seed_tables:
        con = _connect(args.database)
        try:
            with con.cursor() as cur:
                for statement in SEED_DDL:
                    cur.execute(statement)
        finally:
            con.close()
    landing = Path(args.workdir) / "landing"
    (landing / INCOMING).mkdir(parents=True)
    source = Path(args.source)
    shutil.copyfile(source, landing / INCOMING / source.name)
    return landing


def _timed_child(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> dict[str, Any]:
    """Run `command` to its exit: wall seconds from launch, its own peak RSS, exit code."""
    with open(log, "wb") as out:
        launched_at = time.time()
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        raise RuntimeError(f"{command[1:4]} exited with {process.returncode} (log: {log})")
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "launched_at": launched_at,
    }


def _mart_totals(database: str) -> dict[str, dict[str, Any]]:
    """Rows and sums of both mart tables, read back from the database."""
    con = _connect(database)
    totals: dict[str, dict[str, Any]] = {}
    try:
        with con.cursor() as cur:
            for table, query in MART_TOTALS.items():
                cur.execute(query)
                rows, sales, incentive = cur.fetchone()
                totals[table] = {
                    "rows": int(rows),
                    "total_sales": str(Decimal(sales or 0).quantize(Decimal("0.01"))),
                    "incentive": str(Decimal(incentive or 0).quantize(Decimal("0.01"))),
                }
    finally:
        con.close()
    return totals


def _moved(landing: Path) -> list[str]:
    processed = landing / PROCESSED
    return sorted(os.listdir(processed)) if processed.is_dir() else []


# --- the measured sides (each run by the main process in a fresh interpreter) ---------------


def side_strata(args: argparse.Namespace) -> dict[str, Any]:
    """`strata run retail_marts` in a process of its own, timed from launch to exit."""
    workdir = Path(args.workdir)
    landing = _prepare(args, seed_tables=False)
    lake = workdir / "lake"
    config = workdir / "strata.toml"
    config.touch()
    url = SERVER + args.database
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env |= {
        "STRATA_CONFIG": str(config),
        "STRATA_STATE_DIR": str(workdir / "state"),
        "STRATA_RETAIL_MARTS__LANDING_URL": str(landing),
        "STRATA_RETAIL_MARTS__DIMENSIONS_URL": url,
        "STRATA_RETAIL_MARTS__WAREHOUSE_URL": url,
        "STRATA_RETAIL_MARTS__GENERATE_IF_EMPTY": "false",
    }
    command = [str(STRATA), "run", "retail_marts", "--lake", str(lake), "--env", "dev", "-q"]
    child = _timed_child(command, env, workdir / "strata.log", workdir)
    (report_file,) = (lake / "_runs" / "retail_marts").glob("*.json")
    report = json.loads(report_file.read_text())
    if report["status"] != "succeeded":
        raise RuntimeError(f"strata run {report['run_id']} {report['status']}")
    loaded = report["metrics"]["land"]["files"]
    steps: dict[str, float] = {
        "start-up (interpreter, imports, settings)": report["started_at"] - child["launched_at"]
    }
    for attempt in report["steps"]:
        name = attempt["step"]
        steps[name] = steps.get(name, 0.0) + attempt["ended_at"] - attempt["started_at"]
    in_run = report["ended_at"] - report["started_at"]
    steps["run bookkeeping (between steps, report)"] = in_run - sum(
        v for k, v in steps.items() if not k.startswith("start-up")
    )
    steps["exit"] = child["launched_at"] + child["seconds"] - report["ended_at"]
    return {
        "seconds": child["seconds"],
        "peak_rss_mb": child["peak_rss_mb"],
        "in_process_s": in_run,
        "steps_s": steps,
        "rows_in": sum(f["rows"] for f in loaded.values() if f["status"] == "loaded"),
        "moved": _moved(landing),
        "totals": _mart_totals(args.database),
    }


def side_seed(args: argparse.Namespace) -> dict[str, Any]:
    """The pandas seed job (`--side seed-job`) in a process of its own, launch to exit."""
    workdir = Path(args.workdir)
    landing = _prepare(args, seed_tables=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--side", "seed-job"]
    command += ["--workdir", str(workdir), "--landing", str(landing)]
    command += ["--database", args.database]
    log = workdir / "seed.log"
    child = _timed_child(command, dict(os.environ), log, workdir)
    job = json.loads(log.read_text().strip().splitlines()[-1])
    phases = job["phases_s"]
    in_job = job["ended_at"] - job["started_at"] - phases["import pandas, sqlalchemy, pymysql"]
    steps = {"start-up (interpreter)": job["started_at"] - child["launched_at"], **phases}
    steps["exit"] = child["launched_at"] + child["seconds"] - job["ended_at"]
    return {
        "seconds": child["seconds"],
        "peak_rss_mb": child["peak_rss_mb"],
        "in_process_s": in_job,
        "steps_s": steps,
        "rows_in": job["rows_in"],
        "rows_joined": job["rows_joined"],
        "moved": _moved(landing),
        "totals": _mart_totals(args.database),
    }


SIDES = {"strata": side_strata, "seed": side_seed}


# --- the main run ---------------------------------------------------------------------------


def _write_source(root: Path, rows: int) -> Path:
    """The seed generator's one-date file with `rows` rows, written once (untimed)."""
    from strata.pipelines.retail_marts.generate import sales_files

    name, body = sales_files(42, rows)["one_date"]
    path = root / name
    path.write_bytes(body)
    return path


def _measure(args: argparse.Namespace, root: Path) -> dict[str, list[dict[str, Any]]]:
    """Untimed warm-up of each side (with `--bytecode warm`), then `--repeat` alternating runs;
    every run is checked against the first one's mart totals."""
    import _common

    source = _write_source(root, args.rows)
    env: dict[str, str] = {}
    if args.bytecode == "warm":
        # Compiled modules in a cache of this run's own (the venv stays untouched), as after a
        # normal install; an empty PYTHONDONTWRITEBYTECODE counts as unset.
        env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(root / "pycache")}
    rounds = ["warm-up"] if args.bytecode == "warm" else []
    rounds += [str(i + 1) for i in range(args.repeat)]
    runs: dict[str, list[dict[str, Any]]] = {"strata": [], "seed": []}
    reference: dict[str, Any] | None = None
    try:
        for label in rounds:
            for side in runs:
                result = _common.run_side(
                    __file__,
                    side,
                    root / f"{side}-{label}",
                    timeout=SIDE_TIMEOUT,
                    env=env,
                    source=source,
                    database=args.database,
                )
                if "error" in result:
                    raise RuntimeError(f"{side} run {label}: {result['error']}")
                reference = reference or result
                _check(args, side, result, reference)
                if label != "warm-up":
                    runs[side].append(result)
    finally:
        _reset_database(args.database, drop_only=True)
    return runs


def _check(
    args: argparse.Namespace, side: str, result: dict[str, Any], reference: dict[str, Any]
) -> None:
    """Fail loudly unless the side read every row, moved the file, and its marts match."""
    problems = []
    if result["rows_in"] != args.rows:
        problems.append(f"read {result['rows_in']:,} rows, not {args.rows:,}")
    if len(result["moved"]) != 1:
        problems.append(f"moved to {PROCESSED}: {result['moved']}")
    if result["totals"] != reference["totals"]:
        problems.append(f"mart totals differ: {side} {result['totals']} vs {reference['totals']}")
    if problems:
        raise RuntimeError(f"{side}: " + "; ".join(problems))


def _best(results: list[dict[str, Any]]) -> dict[str, Any]:
    return min(results, key=lambda r: r["seconds"])


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Print the comparison and the time per step; return the JSON payload."""
    from _common import ratio_of, wide_console
    from rich.table import Table

    strata, seed = _best(runs["strata"]), _best(runs["seed"])
    ratio = ratio_of(seed["seconds"], strata["seconds"])
    in_process = ratio_of(seed["in_process_s"], strata["in_process_s"])
    memory = ratio_of(strata["peak_rss_mb"], seed["peak_rss_mb"])
    met = ratio >= TARGET_SPEEDUP
    totals = strata["totals"]
    customers, team = totals["customers_data_mart"], totals["sales_team_data_mart"]

    table = Table(
        title=f"retail_marts: strata vs the seed's approach in pandas, {args.rows:,}-row file"
    )
    for column in ("comparison", "strata", "seed approach (pandas)"):
        table.add_column(column)
    for column in ("ratio", "target", "met"):
        table.add_column(column, justify="right")

    def times(side: str) -> str:
        return ", ".join(f"{r['seconds']:.2f}" for r in runs[side])

    table.add_row(
        f"end to end, process start to exit (best of {args.repeat})",
        f"{strata['seconds']:.2f} s",
        f"{seed['seconds']:.2f} s",
        f"{ratio:.2f}x",
        f">= {TARGET_SPEEDUP:g}x faster",
        "[green]yes[/green]" if met else "[red]no[/red]",
    )
    table.add_row("  every run (s)", times("strata"), times("seed"), "-", "(noise)", "-")
    table.add_row(
        "  in-process work (strata: the run; seed: after its imports)",
        f"{strata['in_process_s']:.2f} s",
        f"{seed['in_process_s']:.2f} s",
        f"{in_process:.2f}x",
        "(information)",
        "-",
    )
    table.add_row(
        "peak RSS (strata / seed)",
        f"{strata['peak_rss_mb']:,.0f} MiB",
        f"{seed['peak_rss_mb']:,.0f} MiB",
        f"{memory:.2f}x",
        "(information)",
        "-",
    )
    table.add_row(
        "marts in MariaDB: rows, sum(total_sales), sum(incentive)",
        f"{customers['rows']} + {team['rows']} rows, {customers['total_sales']}, "
        f"{team['incentive']}",
        "same (checked after every run)",
        "-",
        "equal",
        "[green]yes[/green]",
    )
    console = wide_console(140)
    console.print(table)

    steps = Table(title="where the time goes (best run of each side, seconds)")
    for column in ("strata step", "s", "%", "seed phase", "s ", "% "):
        steps.add_column(
            column, justify="left" if "step" in column or "phase" in column else "right"
        )
    pairs = zip_longest(strata["steps_s"].items(), seed["steps_s"].items())
    for left, right in pairs:
        cells: list[str] = []
        for item, whole in ((left, strata["seconds"]), (right, seed["seconds"])):
            if item is None:
                cells += ["", "", ""]
            else:
                cells += [item[0], f"{item[1]:.2f}", f"{100 * item[1] / whole:.0f}"]
        steps.add_row(*cells)
    steps.caption = (
        f"each side in its own process, timed from launch to exit; peak RSS = ru_maxrss of "
        f"that process. bytecode: {args.bytecode}. load average (1 min) before/after each "
        f"side: strata "
        f"{[r['load_avg'] for r in runs['strata']]}, seed {[r['load_avg'] for r in runs['seed']]}."
    )
    console.print(steps)

    return {
        "bench": "retail_marts",
        "rows": args.rows,
        "repeat": args.repeat,
        "bytecode": args.bytecode,
        "strata_s": round(strata["seconds"], 3),
        "seed_s": round(seed["seconds"], 3),
        "ratio": round(ratio, 2),
        "target": TARGET_SPEEDUP,
        "strata_runs_s": [round(r["seconds"], 3) for r in runs["strata"]],
        "seed_runs_s": [round(r["seconds"], 3) for r in runs["seed"]],
        "strata_in_process_s": round(strata["in_process_s"], 3),
        "seed_in_process_s": round(seed["in_process_s"], 3),
        "in_process_ratio": round(in_process, 2),
        "strata_peak_rss_mb": round(strata["peak_rss_mb"], 1),
        "seed_peak_rss_mb": round(seed["peak_rss_mb"], 1),
        "memory_ratio": round(memory, 3),
        "strata_steps_s": {k: round(v, 3) for k, v in strata["steps_s"].items()},
        "seed_phases_s": {k: round(v, 3) for k, v in seed["steps_s"].items()},
        "totals": totals,
        "totals_agree": True,
        "load_avg": {side: [r["load_avg"] for r in results] for side, results in runs.items()},
        "targets_met": {"end_to_end_time": met},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--rows", type=int, default=ROWS, help=f"rows of the landed file (default {ROWS:,})"
    )
    parser.add_argument(
        "--repeat", type=int, default=REPEAT, help=f"runs per side, best counts (default {REPEAT})"
    )
    parser.add_argument(
        "--bytecode",
        choices=["warm", "as-is"],
        default="warm",
        help="warm (default): both sides import from compiled bytecode in a cache of the "
        "run's own, filled by an untimed warm-up run of each side; as-is: the environment's "
        "setting (with PYTHONDONTWRITEBYTECODE and no __pycache__, every import compiles)",
    )
    parser.add_argument(
        "--database",
        default=DATABASE,
        help=f"MariaDB database to (re)create and drop (default {DATABASE})",
    )
    # Internal: one measured side, run by the main process in a fresh interpreter.
    parser.add_argument("--side", choices=[*SIDES, "seed-job"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.side == "seed-job":
        sys.stdout.write(json.dumps(seed_job(args)) + "\n")
        return 0
    from _common import emit_json

    if args.side:
        emit_json(SIDES[args.side](args))
        return 0
    with tempfile.TemporaryDirectory(prefix="retail-marts-bench-") as tmp:
        runs = _measure(args, Path(tmp))
    emit_json(report(args, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
