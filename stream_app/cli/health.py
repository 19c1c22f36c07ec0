"""`rfm-stream health`: do the Kafka and Redis this deployment is configured for answer? For HEALTHCHECK.

The image's worker is PID 1, so a dead worker already stops its container; what a health check can add is
whether the servers it needs answer from where it runs. Redis is named by host and port only, never by
its URL, which may hold a password.
"""

from __future__ import annotations

import click

from stream_app.settings import load


@click.command("health")
@click.option("--timeout", default=5.0, show_default=True, help="seconds to wait for each server")
def health_cmd(timeout: float) -> None:
    """Exit 0 when the Kafka at KAFKA_BOOTSTRAP and the Redis at REDIS_URL both answer, else 1 with why."""
    from stream_app.stack import kafka, redis_server

    settings = load()
    host, port = redis_server.address(settings.redis_url)
    problems = []
    if not kafka.answers(settings.kafka_bootstrap, timeout=timeout, settings=settings):
        problems.append(f"Kafka does not answer at {settings.kafka_bootstrap}")
    if not redis_server.answers(settings.redis_url, timeout=timeout):
        problems.append(f"Redis does not answer at {host}:{port}")
    if problems:
        click.echo("unhealthy: " + "; ".join(problems), err=True)
        raise SystemExit(1)
    click.echo(f"healthy: Kafka at {settings.kafka_bootstrap}, Redis at {host}:{port}")
