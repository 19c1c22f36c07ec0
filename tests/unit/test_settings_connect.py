"""Settings are checked once, with one line naming the variable; clients get the security settings; URLs are masked."""

from __future__ import annotations

import ssl
import subprocess
import sys

import pytest

from stream_app import connect
from stream_app.errors import ConfigError
from stream_app.settings import ENV, Settings, check, load


@pytest.mark.parametrize("url,masked", [
    ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ("redis://:s3cret@localhost:6379/0", "redis://:***@localhost:6379/0"),
    ("rediss://rfm:s3cret@cache.example:6380/0?ssl_ca_certs=/ca.pem", "rediss://rfm:***@cache.example:6380/0?ssl_ca_certs=/ca.pem"),
    ("redis://rfm:p%40ss@host/0", "redis://rfm:***@host/0"),
    ("redis://rfm:s3cret@host:notaport/0", "redis://rfm:***@host:notaport/0"),
    ("redis://host:6379/0?password=s3cret&db=1", "redis://host:6379/0?password=***&db=1"),
])
def test_mask_url_hides_only_the_password(url, masked):
    assert connect.mask_url(url) == masked


def test_settings_repr_does_not_show_secrets():
    s = Settings(redis_url="redis://rfm:s3cret@h:1/0", kafka_sasl_password="k4fka")
    assert "s3cret" not in repr(s) and "k4fka" not in repr(s)


@pytest.mark.parametrize("name,value,says", [
    ("RFM_PARTITIONS", "four", "RFM_PARTITIONS: 'four' is not a whole number"),
    ("RFM_PARTITIONS", "0", "RFM_PARTITIONS: '0' must be greater than 0"),
    ("RFM_RECOMPUTE_INTERVAL", "x", "RFM_RECOMPUTE_INTERVAL: 'x' is not a number"),
    ("RFM_REPLICATION_FACTOR", "2.5", "RFM_REPLICATION_FACTOR: '2.5' is not a whole number"),
    ("KAFKA_SECURITY_PROTOCOL", "TLS", "KAFKA_SECURITY_PROTOCOL: 'TLS' is not one of"),
    ("KAFKA_SSL_CAFILE", "/no/such/ca.pem", "KAFKA_SSL_CAFILE: no such file /no/such/ca.pem"),
    ("REDIS_URL", "http://h:1/0", "REDIS_URL: http://h:1/0 must start with"),
    ("REDIS_URL", "rediss://u:pw@h:1/0?ssl_ca_certs=/no/ca.pem", "REDIS_URL: ssl_ca_certs=/no/ca.pem: no such file"),
])
def test_a_bad_value_is_a_config_error_naming_the_variable(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load()
    assert str(err.value).startswith(says)


def test_sasl_needs_a_user_and_a_known_mechanism(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    with pytest.raises(ConfigError, match="^KAFKA_SASL_USERNAME: required"):
        load()
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "rfm")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "GSSAPI")
    with pytest.raises(ConfigError, match="^KAFKA_SASL_MECHANISM: 'GSSAPI'"):
        load()


@pytest.mark.parametrize("argv", [["worker"], ["replay", "x.csv", "--format", "flo"], ["sync"], ["customer", "1"],
                                  ["segments"], ["report", "--from-redis", "--out", "/dev/null"], ["stack", "status"]])
def test_every_command_reports_a_bad_variable_in_one_line(argv):
    env = {"RFM_PARTITIONS": "four", "PATH": "/usr/bin:/bin"}
    import os

    env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")})
    proc = subprocess.run([sys.executable, "-m", "stream_app.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "error: RFM_PARTITIONS: 'four' is not a whole number\n"


def test_every_security_variable_is_documented():
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                 "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE", "RFM_REPLICATION_FACTOR"):
        assert name in ENV


def test_kafka_kwargs_follow_the_protocol(tmp_path):
    plain = connect.kafka_kwargs(Settings(kafka_bootstrap="a:9092, b:9092"))
    assert plain["bootstrap_servers"] == ["a:9092", "b:9092"] and plain["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in plain and "ssl_context" not in plain
    s = Settings(kafka_bootstrap="a:9094", kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                 kafka_sasl_username="rfm", kafka_sasl_password="pw")
    kw = connect.kafka_kwargs(s)
    assert (kw["security_protocol"], kw["sasl_mechanism"], kw["sasl_plain_username"], kw["sasl_plain_password"]) == (
        "SASL_SSL", "SCRAM-SHA-512", "rfm", "pw")
    assert isinstance(kw["ssl_context"], ssl.SSLContext) and kw["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    sasl_plain = connect.kafka_kwargs(Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u",
                                               kafka_sasl_password="p", kafka_sasl_mechanism="PLAIN"))
    assert "ssl_context" not in sasl_plain and sasl_plain["sasl_mechanism"] == "PLAIN"


def test_faust_gets_the_same_credentials():
    import faust

    assert connect.faust_credentials(Settings()) is None
    creds = connect.faust_credentials(Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256",
                                               kafka_sasl_username="rfm", kafka_sasl_password="pw"))
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.protocol.value, creds.mechanism.value, creds.username) == ("SASL_SSL", "SCRAM-SHA-256", "rfm")
    assert isinstance(connect.faust_credentials(Settings(kafka_security_protocol="SSL")), faust.SSLCredentials)
    assert connect.faust_broker(Settings(kafka_bootstrap="a:1,b:2")) == "kafka://a:1;kafka://b:2"


def test_redis_clients_have_timeouts():
    client = connect.redis_client("rediss://rfm:pw@h:6380/0?ssl_ca_certs=/ca.pem")
    kw = client.connection_pool.connection_kwargs
    assert kw["socket_connect_timeout"] and kw["socket_timeout"]
    assert (kw["username"], kw["password"], kw["ssl_ca_certs"]) == ("rfm", "pw", "/ca.pem")
    aclient = connect.async_redis_client(Settings(redis_url="redis://h:1/0"))
    assert aclient.connection_pool.connection_kwargs["socket_timeout"] == connect.REDIS_READ_TIMEOUT


def test_check_accepts_the_defaults():
    assert check(Settings()).kafka_security_protocol == "PLAINTEXT"


class _Admin:
    """A KafkaAdminClient's list_group_offsets, answering or raising as told."""

    def __init__(self, answer):
        self.answer = answer

    def list_group_offsets(self, group):
        if isinstance(self.answer, Exception):
            raise self.answer
        return {group: self.answer}


def test_committed_offsets_are_not_known_while_the_coordinator_starts():
    from kafka.errors import CoordinatorNotAvailableError, GroupAuthorizationFailedError

    assert connect.committed_offsets(_Admin({"tp": 5}), "g") == {"tp": 5}
    assert connect.committed_offsets(_Admin(CoordinatorNotAvailableError()), "g") is None
    with pytest.raises(GroupAuthorizationFailedError):  # not retriable: a real failure, told
        connect.committed_offsets(_Admin(GroupAuthorizationFailedError()), "g")
