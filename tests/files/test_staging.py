"""The seed's product_staging_table on the real MariaDB, following the ledger (A, then I)."""

from __future__ import annotations

from pathlib import Path

import pymysql

from strata.db import DatabaseUrl
from strata.files import FileLedger, LandedFile
from strata.files.staging import mirror_staging_table

A = LandedFile("sales_data/a.csv", 10, "a" * 32)
B = LandedFile("sales_data/b.csv", 20, "b" * 32)


def rows(url: str) -> list[tuple[object, ...]]:
    parsed = DatabaseUrl.parse(url)
    con = pymysql.connect(
        host=parsed.host, port=parsed.port or 3306, user=parsed.user, database=parsed.database
    )
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT file_name, file_location, status, updated_date IS NULL "
                "FROM product_staging_table ORDER BY file_name"
            )
            return list(cur.fetchall())
    finally:
        con.close()


def test_staging_rows_follow_the_ledger(mysql_url: str, tmp_path: Path) -> None:
    ledger = FileLedger(tmp_path / "state")
    ledger.claim("p", A, "s3://b/sales_data/a.csv", "run-1")
    ledger.claim("p", B, "s3://b/sales_data/b.csv", "run-1")
    ledger.finish("p", B.md5, "failed", "line 3: bad", "s3://b/sales_data_error/b.csv")
    assert mirror_staging_table(mysql_url, ledger.entries("p")) == 1
    assert rows(mysql_url) == [("a.csv", "s3://b/sales_data/a.csv", "A", 1)]

    ledger.finish("p", A.md5, "processed", location="s3://b/sales_data_processed/a.csv")
    assert mirror_staging_table(mysql_url, ledger.entries("p")) == 1
    assert rows(mysql_url) == [("a.csv", "s3://b/sales_data_processed/a.csv", "I", 0)]
    assert mirror_staging_table(mysql_url, ledger.entries("p")) == 0  # idempotent
