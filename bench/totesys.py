"""totesys: a full run against an incremental run after 1% of the rows changed.

    .venv/bin/python bench/totesys.py [--sales-orders 200000] [--changed 0.01] [--repeat 1]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust). Setup, never timed: database
`bench_totesys` is recreated and filled by `strata.pipelines.totesys.generate` (sales orders,
half as many purchase orders, a transaction and a payment per order, the dimensions); the
warehouse is schema `star` of the same database; the lake and state are fresh folders.

* full: `strata run totesys` as a process of its own on the fresh lake: every table ingested,
  silver, the star schema, the warehouse loaded (created, keys and foreign keys added).
* incremental: `simulate(changes = changed x all source rows)` (new orders with their
  transactions and payments, updated orders — some twice — and dimension updates), untimed;
  then `strata run totesys` again, timed the same way: only the changed rows are extracted,
  silver and the facts merge them, the warehouse gets only the new fact versions.

Both wall times run from process start to exit. After each run the warehouse must answer
"sales value by counterparty country and month" exactly as the source does, or the benchmark
fails. The last line on stdout is one JSON object; `ratio` is the full run's time over the
incremental run's (target: incremental <= 10% of full, i.e. ratio >= 10).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATABASE = "bench_totesys"
SERVER = "postgresql://postgres@127.0.0.1:5432"
URL = f"{SERVER}/{DATABASE}"
SOURCE = """
SELECT a.country, to_char(s.created_at, 'YYYY-MM'), sum(s.units_sold * s.unit_price)
FROM public.sales_order s JOIN public.counterparty c USING (counterparty_id)
JOIN public.address a ON a.address_id = c.legal_address_id GROUP BY 1, 2 ORDER BY 1, 2
"""
WAREHOUSE = """
WITH latest AS (
    SELECT DISTINCT ON (sales_order_id) * FROM star.fact_sales_order
    ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC
)
SELECT c.counterparty_legal_country, to_char(f.created_date, 'YYYY-MM'),
       sum(f.units_sold * f.unit_price)
FROM latest f JOIN star.dim_counterparty c USING (counterparty_id) GROUP BY 1, 2 ORDER BY 1, 2
"""


def sql(database: str, statement: str) -> list[tuple[Any, ...]]:
    from strata.db import connect_postgres

    with connect_postgres(f"{SERVER}/{database}", autocommit=True) as con, con.cursor() as cur:
        cur.execute(statement)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def run_strata(workdir: Path) -> float:
    env = os.environ | {
        "STRATA_STATE_DIR": str(workdir / "state"),
        "STRATA_TOTESYS__SOURCE_URL": URL,
        "STRATA_TOTESYS__WAREHOUSE_URL": URL,
        "STRATA_TOTESYS__WAREHOUSE_SCHEMA": "star",
    }
    command = [sys.executable, "-m", "strata", "run", "totesys", "--quiet"]
    command += ["--lake", str(workdir / "lake")]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"strata run failed:\n{done.stderr[-2000:]}")
    if sql(DATABASE, WAREHOUSE) != sql(DATABASE, SOURCE):
        raise SystemExit("the warehouse does not answer like the source")
    return seconds


def source_rows() -> int:
    tables = ("sales_order", "purchase_order", "transaction", "payment", "staff", "design")
    return sum(sql(DATABASE, f"SELECT count(*) FROM public.{t}")[0][0] for t in tables)


def main() -> None:
    from _common import emit_json, ratio_of, wide_console
    from rich.table import Table

    from strata.pipelines.totesys.generate import generate, simulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales-orders", type=int, default=200_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    full_times, incremental_times, changes = [], [], 0
    for attempt in range(args.repeat):
        workdir = Path(tempfile.mkdtemp(prefix="bench-totesys-"))
        sql("postgres", f"DROP DATABASE IF EXISTS {DATABASE}")
        sql("postgres", f"CREATE DATABASE {DATABASE}")
        print(f"setup {attempt + 1}: {args.sales_orders:,} sales orders", file=sys.stderr)
        generate(URL, sales_orders=args.sales_orders, seed=42)
        total = source_rows()
        full_times.append(run_strata(workdir))
        changes = max(int(total * args.changed), 1)
        simulate(URL, changes=changes, seed=7 + attempt)
        incremental_times.append(run_strata(workdir))
        print(
            f"  full {full_times[-1]:.2f}s, incremental {incremental_times[-1]:.2f}s",
            file=sys.stderr,
        )
    sql("postgres", f"DROP DATABASE IF EXISTS {DATABASE}")
    full, incremental = min(full_times), min(incremental_times)
    ratio = ratio_of(full, incremental)
    table = Table(title=f"totesys: {args.sales_orders:,} sales orders, {changes:,} changes")
    for column in ("run", "best wall s", "every run s"):
        table.add_column(column, justify="left" if column == "run" else "right")
    table.add_row("full", f"{full:.2f}", ", ".join(f"{t:.2f}" for t in full_times))
    table.add_row(
        f"incremental ({args.changed:.0%} changed)",
        f"{incremental:.2f}",
        ", ".join(f"{t:.2f}" for t in incremental_times),
    )
    share = incremental / full if full else float("inf")
    table.caption = f"incremental = {share:.1%} of full (target <= 10%); warehouse == source"
    wide_console().print(table)
    emit_json(
        {
            "benchmark": "totesys_incremental",
            "sales_orders": args.sales_orders,
            "changes": changes,
            "full_s": round(full, 3),
            "incremental_s": round(incremental, 3),
            "incremental_share": round(share, 4),
            "ratio": round(ratio, 2),
            "target": "incremental <= 10% of full",
            "met": share <= 0.10,
        }
    )


if __name__ == "__main__":
    main()
