"""`rfm-stream audiences`: each audience's customer ids of a scored file, one list per audience, and the sizes."""

from __future__ import annotations

import click

from stream_app import api
from stream_app.audiences.summary import format_sizes, sizes, write_lists
from stream_app.cli import options
from stream_app.cli.messages import report_skipped


@click.command("audiences")
@options.INPUT
@options.FORMAT
@options.out_option("folder for one NAME.csv of customer ids per audience", "out_dir", metavar="DIR")
@options.AUDIENCES
@options.AS_OF
@options.TIES
def audiences_cmd(input_path: str, fmt: str, out_dir: str, audiences_file: str | None, as_of: str | None,
                  ties: str) -> None:
    """Write each audience's customer ids (sorted) to DIR/NAME.csv and print the audience sizes."""
    scored = api.score_file(input_path, fmt, as_of=as_of, ties=ties, audiences=audiences_file)
    report_skipped(scored.skipped)
    written = write_lists(scored.customers, scored.rules, out_dir)
    click.echo(format_sizes(sizes(scored.customers, scored.rules)))
    click.echo(f"{len(scored.customers):,} customers scored; wrote {len(written)} audience files to {out_dir}",
               err=True)
