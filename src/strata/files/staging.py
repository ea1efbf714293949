"""The seed's `product_staging_table` in MySQL, kept in step with the file ledger.

The seed tracks its files in MySQL with status `A` (active, being processed) and `I`
(inactive, done). Strata's ledger is the source of truth; this mirrors its active and processed
entries there, so tools reading the seed's table keep working. Rejected files are not listed,
as in the seed (they never reach its staging step). A row is the ledger entry with the same
file name and creation time; its location follows the file (to the processed prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from strata.db.mysql import connect_mysql
from strata.files.ledger import LedgerEntry

TABLE = "product_staging_table"
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id INT AUTO_INCREMENT PRIMARY KEY, file_name VARCHAR(255), file_location VARCHAR(255),
    created_date TIMESTAMP NULL DEFAULT NULL, updated_date TIMESTAMP NULL DEFAULT NULL,
    status VARCHAR(1))"""
STATUS = {"active": "A", "processed": "I"}


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None, microsecond=0)


def mirror_staging_table(mysql_url: str, entries: Sequence[LedgerEntry]) -> int:
    """Upsert the active (`A`) and processed (`I`) entries; returns how many rows changed."""
    changed = 0
    con = connect_mysql(mysql_url, autocommit=False)
    try:
        with con.cursor() as cur:
            cur.execute(DDL)
            for entry in entries:
                status = STATUS.get(entry.status)
                if status is None:
                    continue
                name = entry.name.rsplit("/", 1)[-1]
                created = _when(entry.created_at)
                cur.execute(
                    f"SELECT id FROM {TABLE} WHERE file_name = %s AND created_date = %s",
                    (name, created),
                )
                found = cur.fetchone()
                if found is None:
                    changed += cur.execute(
                        f"INSERT INTO {TABLE} (file_name, file_location, created_date, "
                        "updated_date, status) VALUES (%s, %s, %s, %s, %s)",
                        (name, entry.location, created, None, status),
                    )
                else:
                    changed += cur.execute(
                        f"UPDATE {TABLE} SET status = %s, file_location = %s, updated_date = %s "
                        "WHERE id = %s AND status <> %s",
                        (status, entry.location, _when(entry.updated_at), found[0], status),
                    )
        con.commit()
    finally:
        con.close()
    return changed
