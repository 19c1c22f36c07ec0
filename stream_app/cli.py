"""The rfm-stream command line: parse, call the library, turn RfmError into one line and an exit code."""

from __future__ import annotations

import sys

import click

from stream_app.commands import LazyGroup
from stream_app.errors import RfmError
from stream_app.settings import describe


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


if __name__ == "__main__":
    sys.exit(main())
