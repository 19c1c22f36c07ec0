"""`rfm-stream report`: one self-contained HTML page of a scored file or of a deployment's live profiles."""

from __future__ import annotations

import os

import click

from stream_app import api
from stream_app.cli import options
from stream_app.cli.messages import report_skipped
from stream_app.connect import mask_url
from stream_app.errors import BadInput
from stream_app.output import atomic_binary
from stream_app.settings import load


@click.command("report")
@click.argument("input_path", metavar="[INPUT]", required=False)
@options.format_option(help="input format (with INPUT)", required=False)
@click.option("--from-redis", is_flag=True,
              help="draw the live profiles of a running deployment [env: REDIS_URL, RFM_REDIS_PREFIX] instead of INPUT")
@options.out_option("HTML file to write")
@options.AUDIENCES
@options.AS_OF
@options.TIES
def report_cmd(input_path: str | None, fmt: str | None, from_redis: bool, out: str, audiences_file: str | None,
               as_of: str | None, ties: str) -> None:
    """Write one self-contained HTML report: segments, R-by-F grid, RFM sums, frequency vs AOV, top customers, audiences."""
    from stream_app.report.html import render

    if from_redis == bool(input_path):
        raise BadInput("give either INPUT with --format, or --from-redis", source="report")
    _check_report_out(out, input_path)
    if from_redis:
        from stream_app.report.redis_source import read_profiles

        if as_of or fmt:
            raise BadInput("--format and --as-of apply to INPUT, not to --from-redis", source="report")
        settings = load()
        rules = api.load_audiences(audiences_file, settings=settings)
        customers = read_profiles(settings.redis_url, settings.redis_prefix)
        source = f"live profiles in {mask_url(settings.redis_url)} (prefix {settings.redis_prefix!r})"
        if customers.attrs.get("unreadable"):
            click.echo(f"skipped {customers.attrs['unreadable']:,} profile hashes that are not profiles the worker "
                       "writes", err=True)
    else:
        if not fmt:
            raise BadInput("--format is required with INPUT", source="report")
        scored = api.score_file(input_path, fmt, as_of=as_of, ties=ties,  # type: ignore[arg-type]
                                audiences=audiences_file)
        report_skipped(scored.skipped)
        customers, rules = scored.customers, scored.rules
        source = f"{input_path} ({fmt})"
    page = render(customers, rules, source)
    try:
        with atomic_binary(out) as fh:
            fh.write(page.encode())
    except OSError as exc:
        raise BadInput(f"cannot write the report: {exc.strerror or exc}", source=out) from None
    click.echo(f"report of {len(customers):,} customers -> {out}", err=True)


def _check_report_out(out: str, input_path: str | None) -> None:
    """Refuse an --out that cannot become the HTML file, before the (long) scoring rather than after."""
    if os.path.isdir(out):
        raise BadInput("is a folder; --out names the HTML file to write", source=out)
    if input_path and os.path.exists(out) and os.path.exists(input_path) and os.path.samefile(out, input_path):
        raise BadInput("is the input file; the report would overwrite it", source=out)
