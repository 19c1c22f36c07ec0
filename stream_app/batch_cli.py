"""`rfm-stream events` and `rfm-stream batch`: a few calls on the adapters and the batch job."""

from __future__ import annotations

import click

from stream_app import audiences as audience_rules
from stream_app import batch
from stream_app.adapters import registry
from stream_app.adapters.events import write_jsonl
from stream_app.core.segments import SegmentMap
from stream_app.core.timeutil import parse_rfc3339
from stream_app.errors import BadInput
from stream_app.output import atomic_binary, check_output, write_table
from stream_app.settings import load

FORMAT = click.Choice(registry.FORMATS)


def _report_skipped(frame) -> None:
    for what, count in frame.skipped.items():
        click.echo(f"skipped {count:,} {what}", err=True)


@click.command("events")
@click.argument("input_path", metavar="INPUT")
@click.option("--format", "fmt", type=click.Choice(["online-retail", "flo"]), required=True, help="dataset format")
@click.option("--out", required=True, help="JSON Lines file to write ('-' for stdout)")
def events_cmd(input_path: str, fmt: str, out: str) -> None:
    """Write the canonical order events of a dataset, in time order."""
    check_output(out, input_path)
    frame = registry.read(input_path, fmt).in_time_order()
    with atomic_binary(out) as fh:
        n = write_jsonl(frame, fh)
    _report_skipped(frame)
    click.echo(f"wrote {n:,} events to {out}", err=True)


def parse_as_of(text: str | None) -> int | None:
    """--as-of: a date (midnight UTC) or an RFC 3339 date-time."""
    if not text:
        return None
    try:
        return parse_rfc3339(text if len(text) > 10 else f"{text}T00:00:00Z")
    except ValueError as exc:
        raise BadInput(str(exc), source="--as-of") from None


@click.command("batch")
@click.argument("input_path", metavar="INPUT")
@click.option("--format", "fmt", type=FORMAT, required=True, help="input format")
@click.option("--as-of", "as_of", default=None, help="date or date-time recency is measured to (default: latest event)")
@click.option("--ties", type=click.Choice(batch.TIES), default="first", show_default=True, help="ties policy")
@click.option("--audiences", "audiences_file", default=None, metavar="FILE",
              help="audience rules file [env: RFM_AUDIENCES] (default: the packaged rules)")
@click.option("--out", required=True, help="output .csv or .json ('-' for CSV on stdout)")
def batch_cmd(input_path: str, fmt: str, as_of: str | None, ties: str, audiences_file: str | None, out: str) -> None:
    """Score every customer of a file: one row per customer with an order, sorted by customer_id."""
    as_of_us = parse_as_of(as_of)
    settings = load()
    check_output(out, input_path, audiences_file or settings.audiences_file, settings.segments_file)
    segments = SegmentMap.load(settings.segments_file)
    rules = audience_rules.load(audiences_file or settings.audiences_file, segment_names=segments.names)
    frame = registry.read(input_path, fmt)
    scored = batch.score(frame, as_of_us=as_of_us, ties=ties, segments=segments, audiences=rules)
    write_table(batch.to_output(scored), out)
    _report_skipped(frame)
    if out != "-":
        click.echo(f"scored {len(scored):,} customers -> {out}", err=True)
