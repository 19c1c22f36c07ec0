"""`rfm-stream events` and `rfm-stream batch`: a dataset as canonical events, or scored, into one file."""

from __future__ import annotations

import click

from stream_app import api
from stream_app.adapters import registry
from stream_app.adapters.events import write_jsonl
from stream_app.cli import options
from stream_app.cli.messages import report_skipped
from stream_app.output import atomic_binary, check_output, write_table
from stream_app.settings import load


@click.command("events")
@options.INPUT
@options.format_option(["online-retail", "flo"], help="dataset format")
@options.out_option("JSON Lines file to write ('-' for stdout)")
def events_cmd(input_path: str, fmt: str, out: str) -> None:
    """Write the canonical order events of a dataset, in time order."""
    check_output(out, input_path)
    frame = registry.read(input_path, fmt).in_time_order()
    with atomic_binary(out) as fh:
        n = write_jsonl(frame, fh)
    report_skipped(frame.skipped)
    click.echo(f"wrote {n:,} events to {out}", err=True)


@click.command("batch")
@options.INPUT
@options.FORMAT
@options.AS_OF
@options.TIES
@options.AUDIENCES
@options.out_option("output .csv or .json ('-' for CSV on stdout)")
def batch_cmd(input_path: str, fmt: str, as_of: str | None, ties: str, audiences_file: str | None, out: str) -> None:
    """Score every customer of a file: one row per customer with an order, sorted by customer_id."""
    settings = load()
    # before the scoring: an --out that cannot be written fails in a second, not after minutes of work
    check_output(out, input_path, audiences_file or settings.audiences_file, settings.segments_file)
    scored = api.score_file(input_path, fmt, as_of=as_of, ties=ties, audiences=audiences_file, settings=settings)
    write_table(scored.table, out)
    report_skipped(scored.skipped)
    if out != "-":
        click.echo(f"scored {len(scored.customers):,} customers -> {out}", err=True)
