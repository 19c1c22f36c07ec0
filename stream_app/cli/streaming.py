"""`rfm-stream worker|replay|sync|customer|segments|generate`: thin commands over the worker and stream_app.tools.

Every command reads KAFKA_BOOTSTRAP, REDIS_URL, RFM_APP_ID, RFM_ORDERS_TOPIC,
RFM_CHANGES_TOPIC, RFM_DEAD_LETTER_TOPIC, RFM_REDIS_PREFIX and
RFM_RECOMPUTE_INTERVAL through stream_app.settings.load().
"""

from __future__ import annotations

import sys

import click

from stream_app.cli import options
from stream_app.settings import load


@click.command("worker")
@click.option("--batch-size", default=5000, show_default=True, help="events per batch (take_events)")
@click.option("--batch-wait", default=0.02, show_default=True,
              help="seconds to wait for a batch to fill (each batch waits this long after the last)")
@click.option("--rescore-slice", default=0.05, show_default=True, type=click.FloatRange(min=0.0),
              help="seconds of rescoring after each batch: a recompute's rescore runs in slices between batches")
@click.option("--bulk-restore-min", default=None, type=click.IntRange(min=0),
              help="a newly assigned partition this many changelog records behind is loaded in bulk before "
                   "Faust's recovery (default: the worker's, 20,000; 0: any partition behind)")
@click.option("--no-bulk-restore", is_flag=True, help="restore every partition through Faust's recovery alone")
@click.option("--web-port", type=int, default=None,
              help="port of /metrics, /healthz, /readyz and the dashboard (default: RFM_WEB_PORT; 0: off)")
@click.option("--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False))
def worker_cmd(batch_size: int, batch_wait: float, rescore_slice: float, bulk_restore_min: int | None,
               no_bulk_restore: bool, web_port: int | None, loglevel: str) -> None:
    """Run a streaming worker (Faust, at-least-once) until stopped: orders in, Redis profiles and changes out."""
    from stream_app import connect
    from stream_app.worker.app import WorkerOptions, run_worker

    settings = load()
    # Faust would retry an unreachable or refusing server forever; at start that is a misconfiguration, told
    # in one line before the seconds of importing Faust
    connect.probe_redis(settings)
    connect.probe_kafka(settings)
    from stream_app.worker.bootstrap import check_not_in_progress

    check_not_in_progress(settings)  # a half-done history load must not be taken as the whole
    port = settings.web_port if web_port is None else web_port
    restore = {"bulk_restore_min": None} if no_bulk_restore else (
        {} if bulk_restore_min is None else {"bulk_restore_min": bulk_restore_min})
    run_worker(settings, WorkerOptions(batch_size=batch_size, batch_wait=batch_wait, rescore_slice=rescore_slice,
                                       web_port=port or None, web_host=settings.web_host, loglevel=loglevel.lower(),
                                       **restore))


@click.command("replay")
@options.INPUT
@options.FORMAT
@click.option("--rate", type=float, default=None, help="events per second (default: as fast as possible)")
@click.option("--limit", type=int, default=None, help="send at most N events")
@click.option("--quiet", is_flag=True, help="no progress bar")
def replay_cmd(input_path: str, fmt: str, rate: float | None, limit: int | None, quiet: bool) -> None:
    """Send a dataset's events in time order to the orders topic, keyed by customer_id."""
    from tqdm import tqdm

    from stream_app.tools.replay import replay

    def bar(total: int):
        return tqdm(total=total, unit="ev", disable=quiet or not sys.stderr.isatty(), file=sys.stderr)

    s = load()
    result = replay(s, input_path, fmt, rate=rate, limit=limit, progress_factory=bar)
    skipped = ", ".join(f"{n:,} {why}" for why, n in result.skipped.items()) or "none"
    click.echo(f"sent {result.sent:,} events to {s.orders_topic} in {result.seconds:.1f}s; skipped: {skipped}")


@click.command("sync")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="seconds before giving up (exit 3)")
def sync_cmd(timeout: float) -> int:
    """Return once every event produced so far is consumed, a recompute covers it, and Redis reflects it."""
    from stream_app.tools.sync import SyncTimeout, sync

    def show(state) -> None:  # one line, rewritten in place: only for a person watching a terminal
        done = sum(1 for v in (state.rescored or {}).values() if v >= state.version) if state.version else 0
        phase = (f"consumer lag {state.lag:,}" if state.lag else
                 f"boundaries v{state.version} over {state.customers:,} customers, "
                 f"{done} partitions rescored to it, index changes {state.covered:,}/{state.index_changes:,}")
        click.echo(f"\r\033[Ksync: {phase}", nl=False, err=True)

    tty = sys.stdout.isatty()
    try:
        state = sync(load(), timeout=timeout, progress=show if tty else None)
    except SyncTimeout as exc:
        if tty:
            click.echo("", err=True)
        click.echo(f"error: {exc}", err=True)
        return 3
    if tty:
        click.echo("\r\033[K", nl=False, err=True)
    click.echo(f"in sync: boundaries v{state.version} over {state.customers:,} customers")
    return 0


@click.command("customer")
@click.argument("customer_id")
def customer_cmd(customer_id: str) -> int:
    """Print a customer's profile from Redis."""
    from stream_app.tools.lookup import profile

    prof = profile(load(), customer_id)
    if not prof:
        click.echo(f"no profile for customer {customer_id}", err=True)
        return 1
    width = max(map(len, prof))
    for k, v in prof.items():
        click.echo(f"{k:<{width}}  {v}")
    return 0


@click.command("segments")
def segments_cmd() -> None:
    """Print the size of every segment, from Redis."""
    from stream_app.tools.lookup import segment_sizes

    sizes = segment_sizes(load())
    total = sum(sizes.values()) or 1
    width = max([len(s) for s in sizes] + [7])
    click.echo(f"{'segment':<{width}}  {'customers':>9}  share")
    for name, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"{name:<{width}}  {n:>9,}  {100 * n / total:5.1f}%")
    click.echo(f"{'total':<{width}}  {sum(sizes.values()):>9,}")


@click.command("generate")
@click.option("--customers", type=int, default=50_000, show_default=True)
@click.option("--events", type=int, default=200_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@options.out_option("JSON Lines file of canonical events ('-' for stdout)")
def generate_cmd(customers: int, events: int, seed: int, out: str) -> None:
    """Write a synthetic order stream: skewed frequency (Zipf-like) and log-normal amounts, in time order."""
    from stream_app.output import atomic_binary
    from stream_app.tools.synthetic import generate_lines

    with atomic_binary(out) as fh:
        for line in generate_lines(customers, events, seed):
            fh.write(line)
            fh.write(b"\n")
    click.echo(f"wrote {events:,} events of {customers:,} customers to {out}", err=True)
