"""The `strata` command line (Typer + Rich): thin commands over `strata.session`."""

from strata.cli.app import app, main

__all__ = ["app", "main"]
