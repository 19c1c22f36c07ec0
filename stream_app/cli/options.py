"""The arguments and options several commands share, each defined once so its name and help cannot drift.

An option whose help differs between commands (--out names a table, a folder or a page) is a function
taking that help; the rest are ready-made decorators.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from stream_app import api

F = TypeVar("F", bound=Callable[..., Any])


def _checked_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a bad --as-of while the command line is read, before a file of millions of lines is."""
    api.parse_as_of(value, source="--as-of")
    return value


#: the dataset file a command reads
INPUT = click.argument("input_path", metavar="INPUT")


def format_option(formats: Sequence[str] = api.FORMATS, help: str = "input format",  # noqa: A002
                  required: bool = True) -> Callable[[F], F]:
    """--format: which reader INPUT needs (`events` takes only the datasets, which are not already events)."""
    return click.option("--format", "fmt", type=click.Choice(list(formats)), required=required, help=help)


#: --format of the commands that read any input format
FORMAT = format_option()

AS_OF = click.option("--as-of", "as_of", default=None, callback=_checked_as_of,
                     help="date or date-time recency is measured to (default: latest event)")
TIES = click.option("--ties", type=click.Choice(api.TIES), default="first", show_default=True, help="ties policy")
AUDIENCES = click.option("--audiences", "audiences_file", default=None, metavar="FILE",
                         help="audience rules file [env: RFM_AUDIENCES] (default: the packaged rules)")


def out_option(help: str, *names: str, **attrs: Any) -> Callable[[F], F]:  # noqa: A002
    """--out, required everywhere; what it names (a table, a folder, a page) is the command's to say.

    ``names`` and ``attrs`` go to click as they are: `audiences` keeps its folder in ``out_dir``, shown as DIR.
    """
    return click.option("--out", *names, required=True, help=help, **attrs)

