"""`camscan lab ...`: the virtual site (owned by the lab work; placeholder group)."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """Bring a simulated camera estate up in network namespaces, inspect it, tear it down."""
