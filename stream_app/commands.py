"""Which click commands make up the CLI; one import per feature so features stay independent."""

from __future__ import annotations

import importlib

import click

#: (module, attribute) of each command or group; a feature adds its own line.
COMMANDS: list[tuple[str, str]] = [
    ("stream_app.batch_cli", "events_cmd"),
    ("stream_app.batch_cli", "batch_cmd"),
    ("stream_app.stack.cli", "stack"),
]


def register(group: click.Group) -> None:
    for module, attr in COMMANDS:
        group.add_command(getattr(importlib.import_module(module), attr))
