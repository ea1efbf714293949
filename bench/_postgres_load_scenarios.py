"""PostgreSQL warehouse load scenarios, for tuning the sink (not part of `make bench`).

    .venv/bin/python bench/_postgres_load_scenarios.py [--server URL] [--repeat 3] [--rows N]
        [--only replace-new,merge-unchanged,...] [--to-sql-rows 50000]

Loads ~1M rows shaped like ShopEase's silver transactions (read from the Delta table at
/tmp/shoplake/lake/silver/shopease/transactions when it exists, else synthesized with the same
schema: ints, decimal(10,2), decimal(18,2), text, date, timestamps) into a database it creates on
the server (`strata_bench_<pid>`) and drops afterwards. Each scenario runs `--repeat` times on a
freshly prepared table; the minimum and the median wall time are printed (the machine may be
shared, so the minimum is the better estimate of the code's cost), then one JSON line.

Scenarios: replace-new (the table does not exist), replace-existing (a table of the same rows),
append-new, append-existing, merge-unchanged (every key present, identical rows), merge-changed
(every key present, every row differs), merge-new (the table does not exist).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DELTA = Path("/tmp/shoplake/lake/silver/shopease/transactions")
SERVER = "postgresql://postgres@127.0.0.1:5432/"
KEY = ["transaction_id"]
SCENARIOS = (
    "replace-new",
    "replace-existing",
    "append-new",
    "append-existing",
    "merge-unchanged",
    "merge-changed",
    "merge-new",
)


def transactions(rows: int) -> tuple[pa.Table, str]:
    """The silver transactions (first `rows`), or a synthetic table of the same schema."""
    if DELTA.exists():
        import deltalake

        table = deltalake.DeltaTable(str(DELTA)).to_pyarrow_table()
        return table.slice(0, rows).combine_chunks(), f"delta {DELTA}"
    return synthetic(rows), "synthetic"


def synthetic(rows: int) -> pa.Table:
    rng = np.random.default_rng(42)
    ids = np.arange(1, rows + 1, dtype=np.int64)
    quantity = rng.integers(1, 6, rows, dtype=np.int32)
    cents = rng.integers(100, 50_000, rows)
    day0 = np.datetime64("2024-01-01")
    days = rng.integers(0, 730, rows)
    dates = day0 + days.astype("timedelta64[D]")
    created = dates.astype("datetime64[us]") + rng.integers(0, 86_400_000_000, rows).astype(
        "timedelta64[us]"
    )
    calendar = dates.astype(object)
    return pa.table(
        {
            "transaction_id": ids,
            "store_id": pa.array(rng.integers(1, 50, rows, dtype=np.int32)),
            "customer_id": pa.array(rng.integers(1, 10_000, rows, dtype=np.int32)),
            "product_id": pa.array(rng.integers(1, 1_000, rows, dtype=np.int32)),
            "quantity": pa.array(quantity),
            "unit_price": cents_as_decimal(cents, 10),
            "total_amount": cents_as_decimal(cents * quantity, 18),
            "payment_method": pa.array(
                np.array(["cash", "credit_card", "debit_card", "gift_card"])[ids % 4]
            ),
            "sales_channel": pa.array(np.array(["online", "in_store"])[ids % 2]),
            "transaction_date": pa.array(dates, pa.date32()),
            "year": pa.array([d.year for d in calendar], pa.int32()),
            "month": pa.array([d.month for d in calendar], pa.int32()),
            "day": pa.array([d.day for d in calendar], pa.int32()),
            "created_at": pa.array(created, pa.timestamp("us")),
            "updated_at": pa.array(created, pa.timestamp("us")),
            "_quality_warnings": pa.nulls(rows, pa.string()),
        }
    )


def cents_as_decimal(cents: np.ndarray, precision: int) -> pa.Array:
    """DECIMAL(precision, 2) from integer cents (the unscaled 128-bit values, built in bulk)."""
    words = np.stack([cents, np.where(cents < 0, -1, 0)], axis=1).astype("<i8")
    return pa.Array.from_buffers(
        pa.decimal128(precision, 2), len(cents), [None, pa.py_buffer(words.tobytes())]
    )


def changed(table: pa.Table) -> pa.Table:
    """Every row differs from `table` in one column (quantity + 1, same type: no ALTER)."""
    index = table.schema.get_field_index("quantity")
    quantity = table["quantity"]
    return table.set_column(index, "quantity", pc.add(quantity, 1).cast(quantity.type))


def as_stream(table: pa.Table) -> pa.RecordBatchReader:
    """What a pipeline hands the sink: a stream of ~128k-row batches."""
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(131_072))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=SERVER)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--to-sql-rows", type=int, default=0, help="also time pandas to_sql")
    args = parser.parse_args()

    import adbc_driver_postgresql.dbapi as pg

    from strata.db import DatabaseUrl
    from strata.sinks import Mode, open_warehouse

    data, origin = transactions(args.rows)
    rows = data.num_rows
    print(f"{rows:,} rows from {origin}; {data.nbytes / 1e6:.0f} MB in Arrow", flush=True)
    name = f"strata_bench_{os.getpid()}"
    admin = pg.connect(args.server, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = DatabaseUrl.parse(args.server).with_database(name).url
    results: dict[str, dict[str, float]] = {}
    try:
        with open_warehouse(url, schema="bench") as wh:

            def sql(statement: str) -> None:
                wh._execute(statement)
                wh._commit()

            def vacuum() -> None:  # what autovacuum would have done between two daily loads
                with pg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
                    cur.execute("VACUUM ANALYZE bench.transactions")

            def fresh() -> None:
                sql("DROP TABLE IF EXISTS bench.transactions")

            def loaded() -> None:
                fresh()
                wh.load("transactions", data, mode="replace", key=KEY)
                vacuum()

            def load(mode: Mode, table: pa.Table = data) -> Callable[[], object]:
                return lambda: wh.load("transactions", as_stream(table), mode=mode, key=KEY)

            def half_loaded() -> None:  # the odd keys are there, the even ones get appended
                loaded()
                sql("DELETE FROM bench.transactions WHERE transaction_id % 2 = 0")
                vacuum()

            even = data.filter(pc.equal(pc.bit_wise_and(data["transaction_id"], 1), 0))
            scenarios: dict[str, tuple[Callable[[], None], Callable[[], object]]] = {
                "replace-new": (fresh, load("replace")),
                "replace-existing": (loaded, load("replace")),
                "append-new": (fresh, load("append")),
                "append-existing": (half_loaded, load("append", even)),
                "merge-unchanged": (loaded, load("merge")),
                "merge-changed": (loaded, load("merge", changed(data))),
                "merge-new": (fresh, load("merge")),
            }
            for scenario in args.only.split(","):
                prepare, run = scenarios[scenario]
                seconds = []
                for _ in range(args.repeat):
                    prepare()
                    started = time.perf_counter()
                    result = run()
                    seconds.append(time.perf_counter() - started)
                best, median = min(seconds), statistics.median(seconds)
                loaded_rows = getattr(result, "rows", rows)
                results[scenario] = {
                    "min_s": round(best, 3),
                    "median_s": round(median, 3),
                    "rows_per_s": round(loaded_rows / best),
                }
                print(
                    f"{scenario:18s} min {best:6.2f} s  median {median:6.2f} s  "
                    f"{loaded_rows / best:>12,.0f} rows/s   {result}",
                    flush=True,
                )
            fresh()
        if args.to_sql_rows:
            results["pandas-to_sql"] = to_sql(url, data.slice(0, args.to_sql_rows))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    print(json.dumps({"rows": rows, "origin": origin, "results": results}), flush=True)


def to_sql(url: str, table: pa.Table) -> dict[str, float]:
    """pandas DataFrame.to_sql(chunksize=10_000) of `table` (SQLAlchemy + psycopg2)."""
    import sqlalchemy

    frame = table.to_pandas()
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    started = time.perf_counter()
    frame.to_sql(
        "to_sql", engine, schema="bench", if_exists="replace", index=False, chunksize=10_000
    )
    seconds = time.perf_counter() - started
    engine.dispose()
    print(f"pandas to_sql      {seconds:6.2f} s  {len(frame) / seconds:>12,.0f} rows/s", flush=True)
    return {"seconds": round(seconds, 3), "rows_per_s": round(len(frame) / seconds)}


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # deltalake's runtime threads can abort a normal interpreter exit
