"""Every environment variable rfm-stream reads, with its default, in one place.

Operators and tests run several independent deployments on one stack by
changing these names (app id, topics, Redis prefix), so every command takes
its settings from :func:`load` rather than reading ``os.environ`` itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from stream_app.errors import ConfigError


def _xdg(variable: str, fallback: str) -> Path:
    """An XDG base folder's rfm-stream subfolder: never inside the code, wherever the package is installed.

    The XDG Base Directory spec: $XDG_STATE_HOME (else ~/.local/state) for state that outlives a run but is
    not user data (logs, pids, the worker's tables), $XDG_CACHE_HOME (else ~/.cache) for what can be
    downloaded again. A relative value is invalid by the spec and ignored.
    """
    base = os.environ.get(variable, "")
    return (Path(base) if os.path.isabs(base) else Path(os.path.expanduser(fallback))) / "rfm-stream"


STATE_DIR = _xdg("XDG_STATE_HOME", "~/.local/state")
CACHE_DIR = _xdg("XDG_CACHE_HOME", "~/.cache")

#: name -> (default, help); the single source for --help texts and docs.
ENV: dict[str, tuple[str, str]] = {
    "KAFKA_BOOTSTRAP": ("localhost:9092", "Kafka bootstrap servers"),
    "REDIS_URL": ("redis://localhost:6379/0", "Redis server holding the customer profiles"),
    "RFM_APP_ID": ("rfm-stream", "Faust app id: consumer group and changelog topic prefix"),
    "RFM_ORDERS_TOPIC": ("rfm.orders", "input topic of canonical order events, keyed by customer_id"),
    "RFM_CHANGES_TOPIC": ("rfm.segment-changes", "output topic of segment-change events"),
    "RFM_DEAD_LETTER_TOPIC": ("rfm.dead-letter", "topic of events that failed validation"),
    "RFM_AUDIENCE_TOPIC": ("rfm.audience-events", "topic of audience enter/exit events"),
    "RFM_REDIS_PREFIX": ("rfm", "prefix of every Redis key written"),
    "RFM_RECOMPUTE_INTERVAL": ("30", "seconds between quintile boundary recomputes"),
    "RFM_PARTITIONS": ("4", "partitions of the orders topic when rfm-stream creates it"),
    "RFM_STORE": ("rocksdb://", "Faust table store: rocksdb:// or memory://"),
    "RFM_DATA_DIR": (str(STATE_DIR / "worker"), "folder of the worker's RocksDB tables, in $XDG_STATE_HOME or ~/.local/state"),
    "RFM_RUN_DIR": (str(STATE_DIR), "logs, pids and data of the local stack, in $XDG_STATE_HOME or ~/.local/state"),
    "RFM_CACHE_DIR": (str(CACHE_DIR), "downloads: Maven repository, Kafka class path, in $XDG_CACHE_HOME or ~/.cache"),
    "RFM_SEGMENTS": ("", "JSON file of the 5x5 segment map; empty means the packaged map"),
    "RFM_AUDIENCES": ("", "audience rules file; empty means the packaged rules"),
    "RFM_REPLICATION_FACTOR": ("1", "replicas of every topic rfm-stream or Faust creates (changelogs too)"),
    "KAFKA_SECURITY_PROTOCOL": ("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
    "KAFKA_SASL_MECHANISM": ("PLAIN", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)"),
    "KAFKA_SASL_USERNAME": ("", "SASL user name (SASL_* protocols)"),
    "KAFKA_SASL_PASSWORD": ("", "SASL password (SASL_* protocols); never printed"),
    "KAFKA_SSL_CAFILE": ("", "PEM file of the CA that signed the brokers' certificates; empty: the system's"),
    "KAFKA_SSL_CERTFILE": ("", "PEM client certificate, when the brokers require one"),
    "KAFKA_SSL_KEYFILE": ("", "PEM private key of KAFKA_SSL_CERTFILE"),
    "RFM_WEB_HOST": ("127.0.0.1", "address the worker serves /metrics, /healthz, /readyz and the dashboard on"),
    "RFM_WEB_PORT": ("6066", "port of the worker's metrics, health and dashboard server; 0 turns it off"),
    "RFM_LOG_FORMAT": ("text", "worker log format: text, or json (one object per line)"),
}

KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_FORMATS = ("text", "json")


def env(name: str) -> str:
    """The value of one setting: the environment's, else the documented default."""
    default, _ = ENV[name]
    return os.environ.get(name, default) or default


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration, taken once per command."""

    kafka_bootstrap: str = field(default_factory=lambda: env("KAFKA_BOOTSTRAP"))
    redis_url: str = field(default_factory=lambda: env("REDIS_URL"))
    app_id: str = field(default_factory=lambda: env("RFM_APP_ID"))
    orders_topic: str = field(default_factory=lambda: env("RFM_ORDERS_TOPIC"))
    changes_topic: str = field(default_factory=lambda: env("RFM_CHANGES_TOPIC"))
    dead_letter_topic: str = field(default_factory=lambda: env("RFM_DEAD_LETTER_TOPIC"))
    audience_topic: str = field(default_factory=lambda: env("RFM_AUDIENCE_TOPIC"))
    redis_prefix: str = field(default_factory=lambda: env("RFM_REDIS_PREFIX"))
    recompute_interval: float = field(default_factory=lambda: _number("RFM_RECOMPUTE_INTERVAL", float, above=0))
    partitions: int = field(default_factory=lambda: _number("RFM_PARTITIONS", int, above=0))
    store: str = field(default_factory=lambda: env("RFM_STORE"))
    data_dir: Path = field(default_factory=lambda: Path(env("RFM_DATA_DIR")))
    run_dir: Path = field(default_factory=lambda: Path(env("RFM_RUN_DIR")))
    cache_dir: Path = field(default_factory=lambda: Path(env("RFM_CACHE_DIR")))
    segments_file: str = field(default_factory=lambda: env("RFM_SEGMENTS"))
    audiences_file: str = field(default_factory=lambda: env("RFM_AUDIENCES"))
    replication_factor: int = field(default_factory=lambda: _number("RFM_REPLICATION_FACTOR", int, above=0))
    kafka_security_protocol: str = field(default_factory=lambda: env("KAFKA_SECURITY_PROTOCOL").upper())
    kafka_sasl_mechanism: str = field(default_factory=lambda: env("KAFKA_SASL_MECHANISM").upper())
    kafka_sasl_username: str = field(default_factory=lambda: env("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: str = field(default_factory=lambda: env("KAFKA_SASL_PASSWORD"), repr=False)
    kafka_ssl_cafile: str = field(default_factory=lambda: env("KAFKA_SSL_CAFILE"))
    kafka_ssl_certfile: str = field(default_factory=lambda: env("KAFKA_SSL_CERTFILE"))
    kafka_ssl_keyfile: str = field(default_factory=lambda: env("KAFKA_SSL_KEYFILE"))
    web_host: str = field(default_factory=lambda: env("RFM_WEB_HOST"))
    web_port: int = field(default_factory=lambda: _number("RFM_WEB_PORT", int, at_least=0))
    log_format: str = field(default_factory=lambda: env("RFM_LOG_FORMAT"))

    def __repr__(self) -> str:  # the dataclass repr would show REDIS_URL's password
        from stream_app.connect import mask_url

        return f"Settings(app_id={self.app_id!r}, kafka={self.kafka_bootstrap!r}, redis={mask_url(self.redis_url)!r})"


def _number(name: str, kind: type, *, above: float | None = None, at_least: float | None = None) -> int | float:
    """A number from the environment, greater than ``above`` or at least ``at_least``.

    Anything else is a one-line error naming the variable. A bound, not a flag, so that each field says
    which values it takes (RFM_WEB_PORT ``at_least=0``, where 0 means "off").
    """
    text = env(name).strip()
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}: {text!r} is not {what}") from None
    if above is not None and not value > above:
        raise ConfigError(f"{name}: {text!r} must be greater than {above}")
    if at_least is not None and not value >= at_least:
        raise ConfigError(f"{name}: {text!r} must be {at_least} or more")
    return value


def check(s: Settings) -> Settings:
    """Reject values that would otherwise fail late, deep inside a client, as a traceback.

    Every message starts with the variable's name, so `error: KAFKA_SSL_CAFILE: ...` says what to fix.
    """
    if s.kafka_security_protocol not in KAFKA_PROTOCOLS:
        raise ConfigError(f"KAFKA_SECURITY_PROTOCOL: {s.kafka_security_protocol!r} is not one of "
                          f"{', '.join(KAFKA_PROTOCOLS)}")
    if s.kafka_security_protocol.startswith("SASL_"):
        if s.kafka_sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"KAFKA_SASL_MECHANISM: {s.kafka_sasl_mechanism!r} is not one of "
                              f"{', '.join(SASL_MECHANISMS)}")
        for name, value in (("KAFKA_SASL_USERNAME", s.kafka_sasl_username),
                            ("KAFKA_SASL_PASSWORD", s.kafka_sasl_password)):
            if not value:
                raise ConfigError(f"{name}: required when KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol}")
    for name, path in (("KAFKA_SSL_CAFILE", s.kafka_ssl_cafile), ("KAFKA_SSL_CERTFILE", s.kafka_ssl_certfile),
                       ("KAFKA_SSL_KEYFILE", s.kafka_ssl_keyfile)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{name}: no such file {path}")
    if bool(s.kafka_ssl_certfile) != bool(s.kafka_ssl_keyfile):
        raise ConfigError("KAFKA_SSL_CERTFILE: a client certificate needs KAFKA_SSL_KEYFILE too, and the reverse")
    if s.log_format not in LOG_FORMATS:
        raise ConfigError(f"RFM_LOG_FORMAT: {s.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    if s.web_port > 65535:
        raise ConfigError(f"RFM_WEB_PORT: {s.web_port} is not a port")
    _check_redis_url(s.redis_url)
    if not s.kafka_bootstrap.strip():
        raise ConfigError("KAFKA_BOOTSTRAP: empty")
    return s


def _check_redis_url(url: str) -> None:
    from stream_app.connect import mask_url

    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL: {mask_url(url)} is not a URL: {exc}") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL: {mask_url(url)} must start with redis://, rediss:// or unix://")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"REDIS_URL: {mask_url(url)} names no host")
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        for path in parse_qs(parts.query).get(name, []):
            if not Path(path).is_file():
                raise ConfigError(f"REDIS_URL: {name}={path}: no such file")


def load() -> Settings:
    """Settings from the current environment, checked (a bad value raises ConfigError naming the variable)."""
    return check(Settings())


def describe() -> str:
    """A table of every variable, its default and meaning, for --help and docs."""
    width = max(len(n) for n in ENV)
    return "\n".join(f"{n:<{width}}  {h} (default: {d or 'none'})" for n, (d, h) in ENV.items())


__all__ = ["ENV", "Settings", "load", "env", "describe"]
