"""`rfm-stream bootstrap`: a thin command over stream_app.worker.bootstrap."""

from __future__ import annotations

import click

from stream_app.cli import options
from stream_app.settings import load


@click.command("bootstrap")
@options.INPUT
@options.FORMAT
@click.option("--quiet", is_flag=True, help="no progress lines")
@click.option("--shard-customers", type=click.IntRange(min=1), default=None, metavar="N",
              help="the most customers whose states are held in memory at once (default 1,000,000, about 2-5 GB); "
                   "a bigger history is folded twice, a shard at a time")
@click.option("--stop-after", type=int, default=None, hidden=True,
              help="exit abruptly after this many writes, profiles then changelog records (tests of an interrupted load)")
def bootstrap_cmd(input_path: str, fmt: str, quiet: bool, shard_customers: int | None, stop_after: int | None) -> None:
    """Load a history into an empty deployment at batch speed: Table changelog, Redis profiles, boundaries.

    Workers started afterwards restore the customers and stream on; anything sent later, the history
    again included, folds on top. Interrupted, the same command run again finishes the load.
    """
    import gc
    import os
    import sys

    from stream_app.worker.bootstrap import Progress, bootstrap

    s = load()
    gc.disable()  # for good: bootstrap() turns it back on only if it was on, and this process ends below
    r = bootstrap(s, input_path, fmt, Progress(quiet=quiet), stop_after=stop_after, shard_customers=shard_customers)
    notes = [f"{n:,} {why}" for why, n in r.skipped.items()]
    notes += [f"{n:,} refused: {why}" for why, n in r.refused.items()]
    click.echo(f"bootstrapped {r.customers:,} customers ({r.scored:,} scored, boundaries v{r.boundaries_version}) "
               f"from {r.events:,} events into {s.app_id} / {s.redis_prefix!r} in {r.seconds:.1f}s "
               f"({r.events / max(r.seconds, 1e-9):,.0f} events/s); skipped: {', '.join(notes) or 'none'}")
    # A one-shot process: the OS takes back the loaded states' memory at once. Freeing their ~30M objects one
    # by one took about 6 s of a 2-minute load of 10M events. Every server write was awaited above.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
