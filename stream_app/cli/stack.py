"""`rfm-stream stack up|down|status|fetch`: a thin layer over stream_app.stack."""

from __future__ import annotations

import click

from stream_app import stack as local_stack
from stream_app.settings import load
from stream_app.stack import kafka


@click.group("stack")
def stack_group() -> None:
    """A real Kafka broker (KRaft, from Maven Central) and Redis on 127.0.0.1, without Docker.

    Addresses come from KAFKA_BOOTSTRAP and REDIS_URL; logs, pids and data go to RFM_RUN_DIR,
    the Kafka class path to RFM_CACHE_DIR.
    """


@stack_group.command("up")
@click.option("--persist", is_flag=True, help="Keep Redis data across restarts (append-only file); off for tests.")
@click.option("--secure", is_flag=True,
              help="Also a SASL_SSL (SCRAM-SHA-512) Kafka listener on the port + 2, and Redis with a user, a "
                   "password and TLS on the port + 1, with a throwaway CA; prints the variables to use them.")
def up_cmd(persist: bool, secure: bool) -> int:
    """Start Kafka and Redis unless running; wait until both answer."""
    local_stack.up(load(), persist=persist, secure=secure, echo=click.echo)
    return 0


@stack_group.command("down")
def down_cmd() -> int:
    """Stop the servers `up` started; remove stale pid files."""
    local_stack.down(load(), echo=click.echo)
    return 0


@stack_group.command("status")
def status_cmd() -> int:
    """Say whether each server answers; exit status 3 when one does not."""
    return 0 if local_stack.status(load(), echo=click.echo) else 3


@stack_group.command("fetch")
def fetch_cmd() -> int:
    """Download the Kafka class path into RFM_CACHE_DIR (`up` does it when missing)."""
    s = load()
    if kafka.classpath_ready(s):
        click.echo(f"kafka  class path of Kafka {kafka.KAFKA_VERSION} already in {kafka.Paths.of(s).home}")
    else:
        kafka.fetch_classpath(s, echo=click.echo)
    return 0

