"""`rfm-stream audiences` and `rfm-stream report`: a few calls on the audience rules, the batch job and the report."""

from __future__ import annotations

import os

import click

from stream_app import audiences as audience_rules
from stream_app import batch
from stream_app.adapters import registry
from stream_app.audiences.summary import format_sizes, sizes, write_lists
from stream_app.connect import mask_url
from stream_app.batch_cli import FORMAT, _report_skipped, parse_as_of
from stream_app.core.segments import SegmentMap
from stream_app.errors import BadInput
from stream_app.output import atomic_binary
from stream_app.settings import load

AUDIENCES_OPTION = click.option(
    "--audiences", "audiences_file", default=None, metavar="FILE",
    help="audience rules file [env: RFM_AUDIENCES] (default: the packaged rules)")
AS_OF_OPTION = click.option("--as-of", "as_of", default=None,
                            help="date or date-time recency is measured to (default: latest event)")
TIES_OPTION = click.option("--ties", type=click.Choice(batch.TIES), default="first", show_default=True, help="ties policy")


def _rules(audiences_file: str | None, segments: SegmentMap) -> audience_rules.AudienceRules:
    return audience_rules.load(audiences_file or load().audiences_file, segment_names=segments.names)


def _score(input_path: str, fmt: str, as_of: str | None, ties: str, audiences_file: str | None):
    as_of_us = parse_as_of(as_of)
    segments = SegmentMap.load(load().segments_file)
    rules = _rules(audiences_file, segments)
    frame = registry.read(input_path, fmt)
    scored = batch.score(frame, as_of_us=as_of_us, ties=ties, segments=segments, audiences=rules)
    _report_skipped(frame)
    return scored, rules


@click.command("audiences")
@click.argument("input_path", metavar="INPUT")
@click.option("--format", "fmt", type=FORMAT, required=True, help="input format")
@click.option("--out", "out_dir", required=True, metavar="DIR", help="folder for one NAME.csv of customer ids per audience")
@AUDIENCES_OPTION
@AS_OF_OPTION
@TIES_OPTION
def audiences_cmd(input_path: str, fmt: str, out_dir: str, audiences_file: str | None, as_of: str | None, ties: str) -> None:
    """Write each audience's customer ids (sorted) to DIR/NAME.csv and print the audience sizes."""
    scored, rules = _score(input_path, fmt, as_of, ties, audiences_file)
    written = write_lists(scored, rules, out_dir)
    click.echo(format_sizes(sizes(scored, rules)))
    click.echo(f"{len(scored):,} customers scored; wrote {len(written)} audience files to {out_dir}", err=True)


@click.command("report")
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option("--format", "fmt", type=FORMAT, default=None, help="input format (with INPUT)")
@click.option("--from-redis", is_flag=True,
              help="draw the live profiles of a running deployment [env: REDIS_URL, RFM_REDIS_PREFIX] instead of INPUT")
@click.option("--out", required=True, help="HTML file to write")
@AUDIENCES_OPTION
@AS_OF_OPTION
@TIES_OPTION
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
        rules = _rules(audiences_file, SegmentMap.load(settings.segments_file))
        scored = read_profiles(settings.redis_url, settings.redis_prefix)
        source = f"live profiles in {mask_url(settings.redis_url)} (prefix {settings.redis_prefix!r})"
        if scored.attrs.get("unreadable"):
            click.echo(f"skipped {scored.attrs['unreadable']:,} profile hashes that are not profiles the worker writes",
                       err=True)
    else:
        if not fmt:
            raise BadInput("--format is required with INPUT", source="report")
        scored, rules = _score(input_path, fmt, as_of, ties, audiences_file)  # type: ignore[arg-type]
        source = f"{input_path} ({fmt})"
    page = render(scored, rules, source)
    try:
        with atomic_binary(out) as fh:
            fh.write(page.encode())
    except OSError as exc:
        raise BadInput(f"cannot write the report: {exc.strerror or exc}", source=out) from None
    click.echo(f"report of {len(scored):,} customers -> {out}", err=True)


def _check_report_out(out: str, input_path: str | None) -> None:
    """Refuse an --out that cannot become the HTML file, before the (long) scoring rather than after."""
    if os.path.isdir(out):
        raise BadInput("is a folder; --out names the HTML file to write", source=out)
    if input_path and os.path.exists(out) and os.path.exists(input_path) and os.path.samefile(out, input_path):
        raise BadInput("is the input file; the report would overwrite it", source=out)
