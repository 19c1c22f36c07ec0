"""What several commands tell the user on stderr, worded once."""

from __future__ import annotations

import click


def report_skipped(skipped: dict[str, int]) -> None:
    """Say what a reader left out and why: skipped lines are never silent."""
    for what, count in skipped.items():
        click.echo(f"skipped {count:,} {what}", err=True)
