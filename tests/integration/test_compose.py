"""docker-compose.yml and the Dockerfile must describe the same stack as `rfm-stream stack up` and stream_app.settings.

Docker cannot run on the project's machines, so this test reads the files instead: a topic renamed in
settings, a version bump in kafka.py or a replication factor changed on one side only fails here, and so
does an image that stops installing the wheel, runs as root or checks its health with a command the CLI
lacks. (test_installed_package.py builds and runs the wheel the image installs.) No server is needed.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
import yaml

from stream_app.cli import cli
from stream_app.settings import ENV
from stream_app.stack import kafka

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
#: server.properties keys that name addresses or paths, which necessarily differ inside a container
ADDRESS_KEYS = {"listeners", "advertised.listeners", "listener.security.protocol.map", "controller.quorum.voters", "log.dirs"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _default_port(name: str) -> int:
    default = ENV[name][0]
    return urlsplit(default if "://" in default else f"kafka://{default}").port


def _published(service: dict) -> dict[int, str]:
    """container port -> 'host_ip:host_port' of each published port."""
    out = {}
    for spec in service.get("ports", []):
        host_ip, host_port, container = str(spec).split(":")
        out[int(container)] = f"{host_ip}:{host_port}"
    return out


def test_services_are_the_stack_the_worker_and_a_replay_job(compose):
    assert set(compose["services"]) == {"kafka", "redis", "worker", "replay"}
    assert compose["services"]["replay"]["restart"] == "no"


def test_kafka_is_the_pinned_version_in_kraft_mode_on_the_default_port(compose):
    service = compose["services"]["kafka"]
    assert service["image"] == f"apache/kafka:{kafka.KAFKA_VERSION}"
    env = service["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    port = _default_port("KAFKA_BOOTSTRAP")
    assert _published(service) == {port: f"127.0.0.1:{port}"}
    assert f"HOST://localhost:{port}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_kafka_settings_match_the_local_broker(compose):
    """Every broker setting of the local stack, bar addresses and paths, is set the same way in compose."""
    env = compose["services"]["kafka"]["environment"]
    local = dict(
        line.split("=", 1)
        for line in kafka.server_properties(kafka.Paths(Path("/x"), Path("/x")), 9092).splitlines()
        if line and not line.startswith("#")
    )
    compared = {k: v for k, v in local.items() if k not in ADDRESS_KEYS}
    assert "transaction.state.log.replication.factor" in compared and len(compared) >= 15
    for key, value in compared.items():
        name = "KAFKA_" + key.upper().replace(".", "_")
        assert str(env.get(name)) == value, f"{name}: compose {env.get(name)!r}, local stack {value!r}"
    assert f"-Xmx{kafka.HEAP}" in env["KAFKA_HEAP_OPTS"]


def test_redis_on_the_default_port(compose):
    service = compose["services"]["redis"]
    port = _default_port("REDIS_URL")
    assert _published(service) == {6379: f"127.0.0.1:{port}"}
    assert service["image"].startswith("redis:7")


@pytest.mark.parametrize("name", ["worker", "replay"])
def test_app_services_use_the_projects_settings(compose, name):
    service = compose["services"][name]
    env = service["environment"]
    assert set(env) <= set(ENV), f"unknown settings {set(env) - set(ENV)}"
    for key in ("RFM_APP_ID", "RFM_ORDERS_TOPIC", "RFM_CHANGES_TOPIC", "RFM_DEAD_LETTER_TOPIC",
                "RFM_AUDIENCE_TOPIC", "RFM_REDIS_PREFIX", "RFM_PARTITIONS"):  # fmt: skip
        assert str(env[key]) == ENV[key][0], key

    # they reach the servers by service name, on a listener the broker advertises
    kafka_env = compose["services"]["kafka"]["environment"]
    assert f"PLAINTEXT://{env['KAFKA_BOOTSTRAP']}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    redis_url = urlsplit(env["REDIS_URL"])
    assert (redis_url.hostname, redis_url.port) == ("redis", 6379)
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service["build"] == "." and (PROJECT_ROOT / "Dockerfile").is_file()


def test_the_image_installs_the_wheel_and_runs_the_installed_cli(dockerfile):
    """Build stage: a wheel from pyproject.toml, its readme and the package. Last stage: that wheel, pip-installed,
    and no source tree; the entry point is the console script pyproject declares."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert [s.name for s in dockerfile] == ["build", None], "two stages: build, then the image"
    build, image = dockerfile
    assert all(s.base.startswith("python:3.11") for s in dockerfile)
    copied = {source for args in build.args("COPY") for source in args.split()[:-1]}
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in PROJECT_ROOT.iterdir()
                if (p / "__init__.py").is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in include)}
    assert packages
    assert copied == {"pyproject.toml", pyproject["project"]["readme"], *packages}
    assert any(run.startswith("pip wheel --no-deps --wheel-dir /dist .") for run in build.args("RUN"))
    assert image.args("COPY") == ["--from=build /dist /tmp/dist"], "the image copies the wheel, not the source"
    assert any(run.startswith("pip install /tmp/dist/*.whl") for run in image.args("RUN"))
    assert pyproject["project"]["scripts"] == {"rfm-stream": "stream_app.cli:main"}
    assert image.args("ENTRYPOINT") == ['["rfm-stream"]']


def test_the_image_runs_as_a_numeric_non_root_user(dockerfile):
    image = dockerfile[-1]
    (user,) = image.args("USER")
    assert user.isdigit() and int(user) != 0, f"USER {user}: a numeric uid other than 0"
    assert any(f"--uid {user} " in run for run in image.args("RUN")), "the uid is created in the image"


def test_the_image_health_check_is_a_cli_command(dockerfile):
    (check,) = dockerfile[-1].args("HEALTHCHECK")
    options, _, command = check.partition(" CMD ")
    argv = json.loads(command)
    assert argv[0] == "rfm-stream"
    cli.get_command(click.Context(cli), argv[1]).make_context(argv[1], argv[2:])
    assert "--timeout=" in options and "--interval=" in options


def test_the_image_and_compose_set_only_known_settings(compose, dockerfile):
    """Every variable the image or compose sets for rfm-stream is one stream_app.settings reads."""
    image_env = {a.split("=", 1)[0] for args in dockerfile[-1].args("ENV") for a in args.split()}
    ours = {n for n in image_env if n.startswith(("RFM_", "KAFKA_", "REDIS_"))}
    assert ours >= {"RFM_DATA_DIR", "RFM_RUN_DIR", "RFM_CACHE_DIR"}
    assert ours <= set(ENV), f"unknown settings in the Dockerfile: {ours - set(ENV)}"
    for name in ("worker", "replay"):
        env = compose["services"][name]["environment"]
        assert set(env) <= set(ENV), f"{name}: unknown settings {set(env) - set(ENV)}"
        # the worker's tables go to the volume compose mounts, which the image's user owns
        assert any(str(env.get("RFM_DATA_DIR", "/var/lib/rfm-stream/worker")).startswith(v.split(":")[1])
                   for v in compose["services"]["worker"]["volumes"])


@pytest.mark.parametrize("name", ["worker", "replay"])
def test_app_service_commands_are_valid_cli_invocations(compose, name):
    argv = [str(a) for a in compose["services"][name]["command"]]
    command = cli.get_command(click.Context(cli), argv[0])
    assert command is not None, f"rfm-stream has no command {argv[0]!r}"
    command.make_context(argv[0], argv[1:])  # parses: raises on an unknown option or a bad choice


def test_worker_healthcheck_asks_its_readiness_endpoint(compose):
    """The worker is healthy when /readyz says 200 (urlopen raises on 503), on the port it serves."""
    service = compose["services"]["worker"]
    port = service["environment"].get("RFM_WEB_PORT", ENV["RFM_WEB_PORT"][0])
    test = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in test and "urlopen" in test
    assert _published(service) == {int(port): f"127.0.0.1:{port}"}
    assert service["environment"]["RFM_WEB_HOST"] == "0.0.0.0"  # else the published port reaches nothing
