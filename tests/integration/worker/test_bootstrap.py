"""`rfm-stream bootstrap` on the real stack: a history loaded at batch speed, then a worker streams on exactly.

Each test loads the first 80% (in time order) of a dataset's canonical events, starts a worker and replays
the WHOLE file (the history again, then the rest): Redis must equal `rfm-stream batch` over the whole file,
customer for customer.
"""

from __future__ import annotations

import re

import orjson
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def _history(dep, path: str, fmt: str, share: float = 0.8) -> tuple[str, int]:
    """The first ``share`` of the file's canonical events, in the time order `replay` sends them."""
    events = dep.tmp / f"{fmt}-events.jsonl"
    dep.cli("events", path, "--format", fmt, "--out", str(events))
    lines = events.read_bytes().splitlines(keepends=True)
    n = int(len(lines) * share)
    history = dep.tmp / f"{fmt}-history.jsonl"
    history.write_bytes(b"".join(lines[:n]))
    return str(history), n


def _customers(history: str) -> int:
    """How many customers an events file holds."""
    with open(history, "rb") as fh:
        return len({orjson.loads(line)["customer_id"] for line in fh})


def _bulk_loaded(worker) -> list[tuple[int, int]]:
    """Each load in bulk a worker logged: (partition, records), in the log's order."""
    lines = re.findall(r"bulk restore: partition (\d+) loaded ([\d,]+) records", worker.log.read_text())
    return [(int(p), int(n.replace(",", ""))) for p, n in lines]


def _changelog(dep) -> str:
    return f"{dep.env['RFM_APP_ID']}-customers-changelog"


def _marker(dep) -> dict | None:
    raw = dep.redis.get(f"{dep.prefix}:bootstrap")
    return None if raw is None else orjson.loads(raw)


def _stream_on_and_check(dep, h, path: str, fmt: str, *worker_args: str):
    w = dep.worker("w1", *worker_args)
    dep.replay(path, fmt)
    dep.sync()
    h.assert_redis_equals_batch(dep, h.expected(path, fmt))
    # the load marked every partition present in Redis: the worker did not take it for a lost Redis
    log = w.log.read_text(errors="replace")
    assert "rewritten to Redis" not in log and "Redis lost the profiles" not in log, log[-3000:]
    return w


@pytest.mark.parametrize("shards", [1, 4])
def test_online_retail_history_then_whole_file_equals_batch(deployment, kafka_bootstrap, harness, shards):
    """Also with the history's customers held four shards at a time (``--shard-customers``), as a history
    of millions of customers is loaded."""
    dep, h = deployment, harness
    history, n = _history(dep, h.ONLINE_RETAIL, "online-retail")
    customers = _customers(history)
    extra = ["--shard-customers", str(-(-customers // shards))] if shards > 1 else []
    out = dep.cli("bootstrap", history, "--format", "events", *extra)
    assert f"from {n:,} events" in out.stdout and "boundaries v1" in out.stdout, out.stdout
    assert "folded" in out.stderr and "customer states to" in out.stderr  # a line per stage
    assert (f"(shard {shards} of {shards})" in out.stderr) == (shards > 1), out.stderr
    assert _marker(dep)["state"] == "done"
    # before any worker: the deployment is in sync and equals batch over the history alone
    dep.sync(timeout=30)
    h.assert_redis_equals_batch(dep, h.expected(history, "events"))
    # the changelog holds one record per customer, each in its customer's orders partition
    from stream_app.kafka.partitioner import partition_of

    records = h.read_topic(kafka_bootstrap, _changelog(dep))
    keys = [k for k, _ in records]
    assert len(keys) == len(set(keys))
    scored = {k.decode() for k, v in records if orjson.loads(v)[7] is not None}
    assert scored == set(h.expected(history, "events").index)
    _check_partitions(kafka_bootstrap, _changelog(dep), partition_of)
    _stream_on_and_check(dep, h, h.ONLINE_RETAIL, "online-retail")


def test_flo_history_then_whole_file_equals_batch(deployment, kafka_bootstrap, harness):
    """FLO rows are one snapshot per customer: the history holds the 80% of customers whose snapshots are
    oldest; the replay sends every snapshot again (duplicates) and the newest 20% for the first time.

    The worker loads its partitions' changelog in bulk before Faust's recovery (worker/bulk_restore.py;
    the Online Retail test above restores through Faust's recovery alone, its partitions being fewer
    records behind than the default threshold)."""
    dep, h = deployment, harness
    history, n = _history(dep, h.FLO, "flo")
    dep.cli("bootstrap", history, "--format", "events", "--quiet")
    assert len(h.expected(history, "events")) == n  # one customer per snapshot
    w = _stream_on_and_check(dep, h, h.FLO, "flo", "--bulk-restore-min", "0")
    loaded = _bulk_loaded(w)
    assert sorted(p for p, _ in loaded) == list(range(int(dep.env["RFM_PARTITIONS"])))
    assert sum(k for _, k in loaded) == n  # the bootstrap's record of each customer
    h.assert_store_is_the_changelog(dep, w, kafka_bootstrap)


def test_two_workers_restore_in_bulk_and_rebalance_exactly(deployment, harness):
    """Two workers started together on a loaded history: the first loads every partition in bulk, the
    second's arrival moves half of them to it (a worker without those partitions' databases), which loads
    them in bulk too; the whole file streamed on top then equals batch."""
    dep, h = deployment, harness
    history, _ = _history(dep, h.FLO, "flo")
    dep.cli("bootstrap", history, "--format", "events", "--quiet")
    w1 = dep.worker("w1", "--bulk-restore-min", "0")
    w2 = dep.worker("w2", "--bulk-restore-min", "0")
    dep.replay(h.FLO, "flo")
    dep.sync(timeout=180)
    exp = h.expected(h.FLO, "flo")
    h.assert_redis_equals_batch(dep, exp)
    loaded = [{p for p, _ in _bulk_loaded(w)} for w in (w1, w2)]
    assert loaded[0] | loaded[1] == set(range(int(dep.env["RFM_PARTITIONS"]))), loaded
    assert w1.proc.poll() is None and w2.proc.poll() is None, dep.logs()[-3000:]


def test_refuses_a_deployment_that_is_not_empty(deployment, kafka_bootstrap, harness):
    dep, h = deployment, harness
    history, _ = _history(dep, h.FLO, "flo", share=0.05)
    # Redis holds something under the prefix: refused, nothing written, no topic created
    dep.redis.set(f"{dep.prefix}:customer:somebody", "x")
    proc = dep.cli("bootstrap", history, "--format", "events", check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: the deployment is not empty"), proc.stderr
    assert _marker(dep) is None
    assert sorted(dep.redis.scan_iter(match=f"{dep.prefix}:*")) == [f"{dep.prefix}:customer:somebody".encode()]
    from kafka import KafkaAdminClient, KafkaProducer

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert _changelog(dep) not in admin.list_topics()
    finally:
        admin.close()
    # the changelog holds a record (a worker ran before): refused
    dep.redis.delete(f"{dep.prefix}:customer:somebody")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(_changelog(dep), key=b"somebody", value=b"[2]")
    producer.flush()
    producer.close()
    proc = dep.cli("bootstrap", history, "--format", "events", check=False)
    assert proc.returncode == 2 and "changelog topic" in proc.stderr and "holds 1 records" in proc.stderr, proc.stderr
    assert _marker(dep) is None and not list(dep.redis.scan_iter(match=f"{dep.prefix}:*"))


def test_bootstrap_twice_refuses_the_second(deployment, harness):
    dep, h = deployment, harness
    history, _ = _history(dep, h.FLO, "flo", share=0.05)
    dep.cli("bootstrap", history, "--format", "events", "--quiet")
    before = dep.redis.get(f"{dep.prefix}:boundaries")
    proc = dep.cli("bootstrap", history, "--format", "events", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: the deployment was already bootstrapped"), proc.stderr
    assert dep.redis.get(f"{dep.prefix}:boundaries") == before


def test_killed_midway_then_run_again_ends_exact(deployment, kafka_bootstrap, harness):
    """Stopped abruptly among the Redis profiles, then again among the changelog records: the third run
    finishes the load, and a worker refuses to start on the half-done one in between."""
    dep, h = deployment, harness
    history, _ = _history(dep, h.ONLINE_RETAIL, "online-retail")
    scored = len(h.expected(history, "events"))
    killed = dep.cli("bootstrap", history, "--format", "events", "--stop-after", "1000", check=False)
    assert killed.returncode == 137, killed.stderr
    assert _marker(dep)["state"] == "in progress"
    assert dep.redis.exists(f"{dep.prefix}:boundaries") == 0  # stopped among the profiles
    assert len(list(dep.redis.scan_iter(match=f"{dep.prefix}:customer:*", count=5000))) == 1000
    # a worker refuses a half-done load, in one line
    worker = dep.cli("worker", check=False, timeout=120)
    assert worker.returncode == 2, worker.stderr
    assert worker.stderr.startswith("error: a bootstrap of this deployment") and worker.stderr.count("\n") == 1
    # another input cannot finish it
    other, _ = _history(dep, h.FLO, "flo", share=0.01)
    proc = dep.cli("bootstrap", other, "--format", "events", check=False)
    assert proc.returncode == 2 and "another input" in proc.stderr, proc.stderr
    # run again, stopped among the changelog records this time
    killed = dep.cli("bootstrap", history, "--format", "events", "--stop-after", str(scored + 1000), check=False)
    assert killed.returncode == 137 and "loading it again" in killed.stderr, killed.stderr
    assert _marker(dep)["state"] == "in progress"
    assert len(h.read_topic(kafka_bootstrap, _changelog(dep))) == 1000
    # the same command again finishes the load
    again = dep.cli("bootstrap", history, "--format", "events")
    assert "loading it again" in again.stderr
    assert _marker(dep)["state"] == "done"
    h.assert_redis_equals_batch(dep, h.expected(history, "events"))
    _stream_on_and_check(dep, h, h.ONLINE_RETAIL, "online-retail")


def test_killed_in_its_second_shard_then_run_again_ends_exact(deployment, kafka_bootstrap, harness):
    """In two shards the writes are: the first shard's profiles, its changelog records, the second shard's
    profiles, its records. Stopped among the second shard's records, the load is still "in progress";
    run again, it ends equal to batch with every customer's record in the changelog."""
    dep, h = deployment, harness
    history, _ = _history(dep, h.ONLINE_RETAIL, "online-retail")
    scored = len(h.expected(history, "events"))
    customers = _customers(history)
    first = -(-customers // 2)  # customers are dealt alternately: the first shard holds the odd one
    shards = ["--shard-customers", str(first)]
    killed = dep.cli("bootstrap", history, "--format", "events", *shards, "--stop-after", str(scored + first + 100),
                     check=False)
    assert killed.returncode == 137, killed.stderr
    states_written = [line for line in killed.stderr.splitlines() if "customer states to" in line]
    assert len(states_written) == 1 and states_written[0].endswith("(shard 1 of 2)"), killed.stderr
    assert _marker(dep)["state"] == "in progress" and dep.redis.exists(f"{dep.prefix}:boundaries") == 0
    assert len(h.read_topic(kafka_bootstrap, _changelog(dep))) == first + 100
    again = dep.cli("bootstrap", history, "--format", "events", *shards)
    assert "loading it again" in again.stderr and "(shard 2 of 2)" in again.stderr, again.stderr
    assert _marker(dep)["state"] == "done"
    h.assert_redis_equals_batch(dep, h.expected(history, "events"))
    assert len({k for k, _ in h.read_topic(kafka_bootstrap, _changelog(dep))}) == customers


def _check_partitions(bootstrap: str, topic: str, partition_of) -> None:
    """Every changelog record sits in the partition Kafka's partitioner gives its key on the orders topic,
    and the topic is compacted, as Faust creates a Table's changelog."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = sorted(consumer.partitions_for_topic(topic))
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        seen = 0
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    assert partition_of(r.key, len(parts)) == tp.partition
                    seen += 1
        assert seen == sum(ends.values())
    finally:
        consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, ["cleanup.policy"])])
        assert "compact" in str(res)
    finally:
        admin.close()
