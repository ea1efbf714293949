"""Files landing from outside: a landing area (folder or S3 prefix), a ledger, validation."""

from strata.files.landing import LandedFile, Landing
from strata.files.ledger import FileLedger, LedgerEntry

__all__ = ["FileLedger", "LandedFile", "Landing", "LedgerEntry"]
