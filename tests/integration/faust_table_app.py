"""A minimal Faust worker for the stack tests: sums values per key in a changelog-backed Table.

Run as a script (one worker per process, so a restart really starts from an empty memory store):

    python faust_table_app.py APP_ID BOOTSTRAP TOPIC PARTITIONS GUARANTEE REPORT_FILE

Every 0.2 s, once the table has recovered and the worker holds all source partitions, it writes
REPORT_FILE as JSON: {"processed": events this process handled, "table": {key: sum}}. The app is built in a
function, never at import time, so each test gets its own app id.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import faust


def build_app(app_id: str, bootstrap: str, topic: str, partitions: int, guarantee: str, report: Path) -> faust.App:
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        processing_guarantee=guarantee,
        topic_partitions=partitions,
        topic_replication_factor=1,
        web_enabled=False,
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        datadir=str(report.parent / f"{app_id}-data"),
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    totals = app.Table("totals", default=int, partitions=partitions, key_type=str, value_type=int)
    processed = 0

    @app.agent(source)
    async def add(stream):  # noqa: ANN001 - a faust stream
        nonlocal processed
        async for key, value in stream.items():
            totals[key.decode()] += int(value)
            processed += 1

    @app.timer(0.2)
    async def write_report() -> None:
        assigned = {tp for tp in app.consumer.assignment() if tp.topic == topic}
        if not app.tables.recovery.completed.is_set() or len(assigned) != partitions:
            return
        tmp = report.with_suffix(".tmp")
        tmp.write_text(json.dumps({"processed": processed, "table": dict(totals.items())}))
        os.replace(tmp, report)

    return app


def main(argv: list[str]) -> None:
    app_id, bootstrap, topic, partitions, guarantee, report = argv
    app = build_app(app_id, bootstrap, topic, int(partitions), guarantee, Path(report))
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
