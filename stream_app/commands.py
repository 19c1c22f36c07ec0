"""Which click commands make up the CLI, imported only when used.

A command's module is imported when that command runs, so `rfm-stream batch`
does not pay for importing Faust or the Kafka client (about half a second).
Each feature adds its own line: (command name, module, attribute).
"""

from __future__ import annotations

import importlib

import click

COMMANDS: list[tuple[str, ...]] = [
    ("events", "stream_app.batch_cli", "events_cmd"),
    ("batch", "stream_app.batch_cli", "batch_cmd"),
    ("stack", "stream_app.stack.cli", "stack"),
    ("worker", "stream_app.streaming_cli", "worker_cmd"),
    ("replay", "stream_app.streaming_cli", "replay_cmd"),
    ("bootstrap", "stream_app.bootstrap_cli", "bootstrap_cmd"),
    ("sync", "stream_app.streaming_cli", "sync_cmd"),
    ("customer", "stream_app.streaming_cli", "customer_cmd"),
    ("segments", "stream_app.streaming_cli", "segments_cmd"),
    ("generate", "stream_app.streaming_cli", "generate_cmd"),
    ("audiences", "stream_app.audiences_cli", "audiences_cmd"),
    ("report", "stream_app.audiences_cli", "report_cmd"),
    ("health", "stream_app.health_cli", "health_cmd"),
    ("status", "stream_app.monitor_cli", "status_cmd"),
    ("dashboard", "stream_app.monitor_cli", "dashboard_cmd"),
]


class LazyGroup(click.Group):
    """A click group whose sub-commands are looked up by name and imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {_name(spec) for spec in COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        for spec in COMMANDS:
            if _name(spec) == name:
                return getattr(importlib.import_module(spec[-2]), spec[-1])
        return super().get_command(ctx, name)


def _name(spec: tuple[str, ...]) -> str:
    if len(spec) == 3:
        return spec[0]
    return getattr(importlib.import_module(spec[0]), spec[1]).name  # (module, attribute) form
