"""Helpers for testing pipelines: table comparison with float tolerance."""

from strata.testing.compare import TableMismatch, assert_same_rows

__all__ = ["TableMismatch", "assert_same_rows"]
