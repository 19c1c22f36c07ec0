"""`rfm-stream status` and `rfm-stream dashboard`: a deployment's state for operators, without a worker's port."""

from __future__ import annotations

import click

from stream_app.settings import load


@click.command("status")
def status_cmd() -> int:
    """Lag per partition, the group's members and their partitions, the boundaries and their rescore."""
    from stream_app.monitor.status import read_status

    st = read_status(load())
    click.echo(f"group {st.group} ({st.state}), topic {st.topic}")
    click.echo(f"{'partition':>9}  {'end':>10}  {'committed':>10}  {'lag':>8}  rescored to")
    for p in sorted(st.ends):
        committed = st.committed.get(p)
        lag = st.ends[p] - (committed or 0)
        click.echo(f"{p:>9}  {st.ends[p]:>10,}  {committed if committed is not None else '-':>10}  {lag:>8,}  "
                   f"v{st.rescored.get(p, 0)}")
    click.echo(f"total lag {st.total_lag:,}")
    if st.members:
        click.echo("members:")
        for m in st.members:
            click.echo(f"  {m.client_id} at {m.host}: partitions {', '.join(map(str, m.partitions)) or 'none'}")
    else:
        click.echo("members: none (no worker is running in this group)")
    caught_up = "every partition rescored to it" if st.rescored_all else (
        "partitions " + ", ".join(str(p) for p in st.not_rescored) + " not rescored to it yet")
    click.echo(f"boundaries v{st.version} over {st.customers:,} customers: {caught_up}")
    return 0


@click.command("dashboard")
@click.option("--port", type=int, default=6067, show_default=True, help="port to serve the dashboard on")
@click.option("--host", default=None, help="address to bind (default: RFM_WEB_HOST)")
def dashboard_cmd(port: int, host: str | None) -> None:
    """Serve the live dashboard from Redis alone (no worker port needed) until interrupted."""
    import asyncio


    from stream_app import connect
    from stream_app.audiences import rules as audience_rules
    from stream_app.core.segments import SegmentMap
    from stream_app.monitor.snapshot import Snapshots
    from stream_app.monitor.web import run_dashboard

    s = load()
    segments = SegmentMap.load(s.segments_file)
    rules = audience_rules.load(s.audiences_file, segments.names)
    bind = host or s.web_host

    async def main() -> None:
        client = connect.async_redis_client(s, socket_timeout=5.0)
        click.echo(f"dashboard of prefix {s.redis_prefix!r} on http://{bind}:{port}/ (Ctrl-C stops)", err=True)
        await run_dashboard(client, Snapshots(client, s.redis_prefix, segments, rules.names), bind, port)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
