"""The rfm-stream command line: parse, call the library, turn RfmError into one line and an exit code.

Each command group lives in its own module of this package; the table below names them, and a module
is imported only when its command runs, so `rfm-stream batch` does not pay for importing Faust or the
Kafka client (about half a second). A new command adds one line to COMMANDS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click

from stream_app.errors import RfmError
from stream_app.settings import describe


@dataclass(frozen=True)
class CommandSpec:
    """Where a command is defined: its name on the command line, then the module and attribute holding it."""

    name: str
    module: str
    attribute: str

    def load(self) -> click.Command:
        return getattr(importlib.import_module(self.module), self.attribute)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("events", "stream_app.cli.batch", "events_cmd"),
    CommandSpec("batch", "stream_app.cli.batch", "batch_cmd"),
    CommandSpec("stack", "stream_app.cli.stack", "stack_group"),
    CommandSpec("worker", "stream_app.cli.streaming", "worker_cmd"),
    CommandSpec("replay", "stream_app.cli.streaming", "replay_cmd"),
    CommandSpec("bootstrap", "stream_app.cli.bootstrap", "bootstrap_cmd"),
    CommandSpec("sync", "stream_app.cli.streaming", "sync_cmd"),
    CommandSpec("customer", "stream_app.cli.streaming", "customer_cmd"),
    CommandSpec("segments", "stream_app.cli.streaming", "segments_cmd"),
    CommandSpec("generate", "stream_app.cli.streaming", "generate_cmd"),
    CommandSpec("audiences", "stream_app.cli.audiences", "audiences_cmd"),
    CommandSpec("report", "stream_app.cli.report", "report_cmd"),
    CommandSpec("health", "stream_app.cli.health", "health_cmd"),
    CommandSpec("status", "stream_app.cli.monitor", "status_cmd"),
    CommandSpec("dashboard", "stream_app.cli.monitor", "dashboard_cmd"),
)


class LazyGroup(click.Group):
    """A click group whose sub-commands are looked up by name in COMMANDS and imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {spec.name for spec in COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        for spec in COMMANDS:
            if spec.name == name:
                return spec.load()
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, epilog="Environment:\n\n" + describe().replace("\n", "\n\n"))
@click.version_option(package_name="rfm-stream")
def cli() -> None:
    """Continuous RFM segmentation: batch scoring, the local Kafka/Redis stack and the streaming worker."""


def main(argv: list[str] | None = None) -> int:
    """Console entry point; RfmError becomes `error: ...` on stderr and exit status 2."""
    try:
        rv = cli.main(args=argv, prog_name="rfm-stream", standalone_mode=False)
    except RfmError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:  # click's --help / --version
        return int(exc.code or 0)
    return rv if isinstance(rv, int) else 0


__all__ = ["COMMANDS", "CommandSpec", "cli", "main"]
