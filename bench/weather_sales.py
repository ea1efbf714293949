"""weather_sales side by side: the gold → PostgreSQL sync of `strata worker` against the seed's
exporter (pandas `read_parquet` + `to_sql`).

    .venv/bin/python bench/weather_sales.py [--days 20] [--rows-per-day 50000] [--repeat 1]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust). Setup, never timed: the seed's mock
sales for `days` days (50,000 rows a day: 1,000,000 rows by default) are generated and run
through the pipeline once (upload, land, weather, silver, gold) into a fresh lake; database
`bench_weather_sales` is created. Before each side the target table is dropped and, for
Strata, one message per day is put on the local queue, as the pipeline's notify step does.

* strata: `strata worker weather_sales --once` as a process of its own: for each message,
  read that day of the gold Delta table and merge it into `fact_daily_sales_weather` by key
  (one transaction per day, ADBC binary COPY into a stage, then INSERT … ON CONFLICT).
* seed: the seed's `export_table.py` + `sqs_worker.py` loop in a process of its own: per day,
  list the day's Parquet files under the gold table's `date_key=…/` folder, `pd.concat` of
  `pd.read_parquet`, lower-case the columns, `to_sql(if_exists="append")` through SQLAlchemy
  and psycopg2 (the seed's stack; SQLAlchemy 2 batches inserts with insertmanyvalues).

Both wall times run from process start to exit (imports count on both sides). After each side
the table's row count and sum of sales_amount must equal gold's. The last line on stdout is
one JSON object; `ratio` is the seed's wall time over Strata's (target: >= 20x).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATABASE = "bench_weather_sales"
SERVER = "postgresql://postgres@127.0.0.1:5432"
GOLD = "gold/weather_sales/fact_daily_sales_weather"
END = date(2024, 7, 31)


def _settings(workdir: Path) -> Any:
    from strata.config import load_settings

    config = workdir / "strata.toml"
    config.touch()
    return load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=str(workdir / "lake"),
        state_dir=str(workdir / "state"),
        pipelines={
            "weather_sales": {
                "source_folder": str(workdir / "source"),
                "warehouse_url": f"{SERVER}/{DATABASE}",
                "visibility_timeout": 300,
            }
        },
    )


def _sql(database: str, *statements: str) -> Any:
    from strata.db import connect_postgres

    result = None
    with connect_postgres(f"{SERVER}/{database}", autocommit=True) as con, con.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
            if cur.description:
                result = cur.fetchall()
    return result


def setup(workdir: Path, days: int, rows_per_day: int) -> dict[str, Any]:
    from strata.pipelines.weather_sales import generate
    from strata.session import run_pipeline

    generate.generate(workdir / "source", days=days, end=END, rows_per_day=rows_per_day)
    _sql("postgres", f"DROP DATABASE IF EXISTS {DATABASE}", f"CREATE DATABASE {DATABASE}")
    record = run_pipeline("weather_sales", settings=_settings(workdir), show_progress=False)
    if record.status not in ("succeeded", "partial"):
        raise SystemExit(f"pipeline failed: {record.error}")
    return gold_figures(workdir)


def gold_figures(workdir: Path) -> dict[str, Any]:
    import pyarrow.compute as pc

    from strata.lake.delta import DeltaTableIO
    from strata.session import open_lake

    table = DeltaTableIO(open_lake(_settings(workdir)), GOLD).read()
    return {"rows": table.num_rows, "sales_amount": str(pc.sum(table["sales_amount"]).as_py())}


def reset(workdir: Path, days: int, with_messages: bool) -> None:
    """Drop the target table; put one message per day on the queue (Strata side)."""
    from strata.pipelines.weather_sales import pipeline as ws

    _sql(DATABASE, "DROP TABLE IF EXISTS public.fact_daily_sales_weather")
    settings = _settings(workdir)
    options = ws.Options(**settings.pipeline_options("weather_sales"))
    with ws.queue(settings, options) as queue:
        while queue.receive(max_messages=10, wait_seconds=0):
            pass  # drain whatever a previous side left
        if with_messages:
            for n in range(days):
                day = END - timedelta(days=n)
                body = {"layer": "GOLD", "pipeline": "weather_sales"}
                body |= {"table": "fact_daily_sales_weather", "date_key": day.isoformat()}
                body |= {"version": 0}
                queue.send(json.dumps(body), group_id="bench", dedup_id=f"{day}:{time.time()}")


def target_figures() -> dict[str, Any]:
    rows = _sql(
        DATABASE,
        "SELECT count(*), sum(sales_amount::numeric)::text FROM public.fact_daily_sales_weather",
    )
    return {"rows": int(rows[0][0]), "sales_amount": str(rows[0][1])}


# -- the sides, each in a process of its own ------------------------------------------------


def side_strata(workdir: Path) -> dict[str, Any]:
    env_lake = str(workdir / "lake")
    from strata.cli.app import app

    os.environ["STRATA_STATE_DIR"] = str(workdir / "state")
    os.environ["STRATA_WEATHER_SALES__WAREHOUSE_URL"] = f"{SERVER}/{DATABASE}"
    os.environ["STRATA_WEATHER_SALES__VISIBILITY_TIMEOUT"] = "300"
    args = ["worker", "weather_sales", "--once", "--wait", "0", "--lake", env_lake]
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:  # typer exits 0 on success
        if exc.code not in (0, None):
            raise
    return {"ok": True}


def side_seed(workdir: Path, days: int) -> dict[str, Any]:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{DATABASE}")
    table_dir = workdir / "lake" / GOLD
    for n in range(days):
        day = END - timedelta(days=n)
        files = sorted((table_dir / f"date_key={day.isoformat()}").glob("*.parquet"))
        if not files:
            continue
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        frame.columns = [c.lower() for c in frame.columns]
        frame.to_sql("fact_daily_sales_weather", engine, if_exists="append", index=False)
    engine.dispose()
    return {"ok": True}


def run_timed(script: str, side: str, workdir: Path, **options: Any) -> dict[str, Any]:
    from _common import run_side

    started = time.perf_counter()
    result = run_side(script, side, workdir, timeout=1800, **options)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["strata", "seed"])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--rows-per-day", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.side == "strata":
        print(json.dumps(side_strata(args.workdir)))
        return
    if args.side == "seed":
        print(json.dumps(side_seed(args.workdir, args.days)))
        return
    compare(args)


def compare(args: argparse.Namespace) -> None:
    from _common import emit_json, ratio_of, wide_console
    from rich.table import Table

    workdir = Path(tempfile.mkdtemp(prefix="bench-weather-sales-"))
    print(f"setup: {args.days} days x {args.rows_per_day:,} rows in {workdir}", file=sys.stderr)
    want = setup(workdir, args.days, args.rows_per_day)
    times: dict[str, list[float]] = {"strata": [], "seed": []}
    for _ in range(args.repeat):
        for side in ("strata", "seed"):
            reset(workdir, args.days, with_messages=side == "strata")
            result = run_timed(__file__, side, workdir, days=args.days)
            if "error" in result:
                raise SystemExit(f"{side}: {result['error']}")
            got = target_figures()
            if got != want:
                raise SystemExit(f"{side} loaded {got}, gold has {want}")
            times[side].append(result["seconds"])
    _sql("postgres", f"DROP DATABASE IF EXISTS {DATABASE}")
    strata, seed = min(times["strata"]), min(times["seed"])
    ratio = ratio_of(seed, strata)
    table = Table(title=f"gold → PostgreSQL, {want['rows']:,} rows ({args.days} days)")
    for column in ("side", "best wall s", "rows/s", "every run s"):
        table.add_column(column, justify="left" if column == "side" else "right")
    for side, best in (("strata worker (day replace)", strata), ("seed (pandas to_sql)", seed)):
        runs = times["strata" if side.startswith("strata") else "seed"]
        table.add_row(side, f"{best:.2f}", f"{want['rows'] / best:,.0f}", ", ".join(map(str, runs)))
    table.caption = f"ratio (seed / strata) = {ratio:.1f}x — target >= 20x; both checked equal"
    wide_console().print(table)
    emit_json(
        {
            "benchmark": "weather_sales_sync",
            "rows": want["rows"],
            "days": args.days,
            "strata_s": strata,
            "seed_s": seed,
            "ratio": round(ratio, 2),
            "target": 20,
            "met": ratio >= 20,
        }
    )


if __name__ == "__main__":
    main()
