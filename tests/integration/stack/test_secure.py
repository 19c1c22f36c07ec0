"""rfm-stream against a secured Kafka (SASL_SSL, SCRAM-SHA-512) and Redis (ACL user, password, TLS).

The servers are the `secure_stack` fixture's: `rfm-stream stack up --secure` on ports and a run folder of its
own. Every command is run as a user runs it (a subprocess), and every output is searched for the password.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: a failed connection must be told within this many seconds (python start-up included)
QUICK = 15.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def _one_line_error(proc, seconds: float, *, names: str, password: str) -> None:
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode not in (0, None), out
    assert seconds < QUICK, f"took {seconds:.1f}s: {out}"
    assert out.startswith("error: ") and "\n" not in out, out
    assert "Traceback" not in out
    assert names in out, out
    assert password not in out


def _timed(dep, *args: str, **env: str):
    saved = dict(dep.env)
    dep.env.update(env)
    try:
        t0 = time.monotonic()
        proc = dep.cli(*args, timeout=60, check=False)
        return proc, time.monotonic() - t0
    finally:
        dep.env.clear()
        dep.env.update(saved)


def test_online_retail_through_secured_servers_equals_batch_and_no_output_shows_the_password(
        secure_deployment, secure_stack, harness, tmp_path):
    dep, h = secure_deployment, harness
    password = dep.env["KAFKA_SASL_PASSWORD"]
    assert dep.env["REDIS_URL"].startswith("rediss://rfm:") and password in dep.env["REDIS_URL"]
    w = dep.worker("w1")
    t0 = time.monotonic()
    outputs = [secure_stack["STACK_UP_OUTPUT"]]
    outputs.append(dep.replay(h.ONLINE_RETAIL, "online-retail"))
    assert "sent 22,190 events" in outputs[-1]
    outputs.append(dep.sync())
    took = time.monotonic() - t0
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    h.assert_redis_equals_batch(dep, exp)
    print(f"secured replay + sync of Online Retail: {took:.1f}s")
    said = {}
    for args in (["customer", "14646"], ["segments"], ["stack", "status"],
                 ["report", "--from-redis", "--out", str(tmp_path / "live.html")]):
        proc = dep.cli(*args)
        said[args[0]] = proc.stdout
        outputs += [proc.stdout, proc.stderr]
    assert "champions" in said["customer"] and "4,339" in said["segments"]
    assert "rediss://rfm:***@" in said["stack"], said["stack"]  # stack status names the server, masked
    html = (tmp_path / "live.html").read_text()
    assert "4,339" in html or "4339" in html
    assert "***@" in html  # the report names its source, masked
    w.stop()
    outputs += [html, w.log.read_text(errors="replace")]
    leaks = [i for i, text in enumerate(outputs) if password in text]
    assert not leaks, f"the password is printed in outputs {leaks}"




COMMANDS = {
    "worker": ["worker"],
    "replay": ["replay", "ONLINE_RETAIL", "--format", "online-retail", "--quiet"],
    "sync": ["sync", "--timeout", "30"],
    "customer": ["customer", "14646"],
    "segments": ["segments"],
    "report": ["report", "--from-redis", "--out", "/dev/null"],
}
KAFKA_COMMANDS = ("worker", "replay", "sync")
REDIS_COMMANDS = ("worker", "sync", "customer", "segments", "report")


@pytest.mark.parametrize("command,wrong", [("worker", "KAFKA_SASL_PASSWORD"), ("worker", "REDIS_URL"),
                                           ("replay", "KAFKA_SASL_PASSWORD"), ("customer", "REDIS_URL")])
def test_a_wrong_password_exits_in_one_line(secure_deployment, harness, command, wrong):
    dep = secure_deployment
    password = dep.env["KAFKA_SASL_PASSWORD"]
    bad = {"KAFKA_SASL_PASSWORD": "not-" + password,
           "REDIS_URL": dep.env["REDIS_URL"].replace(f":{password}@", f":not-{password}@")}[wrong]
    args = [harness.ONLINE_RETAIL if a == "ONLINE_RETAIL" else a for a in COMMANDS[command]]
    proc, seconds = _timed(dep, *args, **{wrong: bad})
    names = "Kafka at " if wrong.startswith("KAFKA") else "Redis at rediss://rfm:***@"
    _one_line_error(proc, seconds, names=names, password=password)
    assert "authenticat" in proc.stderr, proc.stderr
    print(f"{command} with a wrong {wrong}: exit {proc.returncode} after {seconds:.1f}s: {proc.stderr.strip()}")


@pytest.mark.parametrize("server,command", [("kafka", c) for c in KAFKA_COMMANDS] +
                                           [("redis", c) for c in REDIS_COMMANDS])
def test_a_wrong_address_is_one_line_naming_the_server(secure_deployment, harness, server, command):
    dep = secure_deployment
    args = [harness.ONLINE_RETAIL if a == "ONLINE_RETAIL" else a for a in COMMANDS[command]]
    port = _closed_port()
    if server == "kafka":
        proc, seconds = _timed(dep, *args, KAFKA_BOOTSTRAP=f"127.0.0.1:{port}")
        names = f"Kafka at 127.0.0.1:{port}"
    else:
        parts = urlsplit(dep.env["REDIS_URL"])
        url = urlunsplit(parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}"))
        proc, seconds = _timed(dep, *args, REDIS_URL=url)
        names = f"127.0.0.1:{port}"
    _one_line_error(proc, seconds, names=names, password=dep.env["KAFKA_SASL_PASSWORD"])
    print(f"{command} with a wrong {server} address: exit {proc.returncode} after {seconds:.1f}s")


def test_an_untrusted_certificate_is_one_line(secure_deployment, harness):
    """A CA file that did not sign the servers' certificates: Kafka (replay) and Redis (customer) refuse."""
    dep = secure_deployment
    other_ca = "/etc/ssl/certs/ca-certificates.crt"
    if not Path(other_ca).is_file():
        pytest.skip("no system CA bundle to distrust the test CA with")
    proc, seconds = _timed(dep, "replay", harness.ONLINE_RETAIL, "--format", "online-retail", "--quiet",
                           KAFKA_SSL_CAFILE=other_ca)
    _one_line_error(proc, seconds, names="Kafka at", password=dep.env["KAFKA_SASL_PASSWORD"])
    assert "not trusted" in proc.stderr, proc.stderr
    url = dep.env["REDIS_URL"].split("?")[0] + f"?ssl_ca_certs={other_ca}"
    proc, seconds = _timed(dep, "customer", "14646", REDIS_URL=url)
    _one_line_error(proc, seconds, names="Redis at rediss://rfm:***@", password=dep.env["KAFKA_SASL_PASSWORD"])
    assert "not trusted" in proc.stderr, proc.stderr
