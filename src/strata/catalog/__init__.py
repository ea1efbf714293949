"""The lake catalog: which tables exist and how SQL names map onto them."""

from strata.catalog.local import LakeCatalog, TableRef
from strata.catalog.resolve import resolve_reference, resolve_tables

__all__ = ["LakeCatalog", "TableRef", "resolve_reference", "resolve_tables"]
