"""Every environment variable rfm-stream reads, with its default, in one place.

Operators and tests run several independent deployments on one stack by
changing these names (app id, topics, Redis prefix), so every command takes
its settings from :func:`load` rather than reading ``os.environ`` itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


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
    "RFM_WEB_HOST": ("127.0.0.1", "address the worker serves /metrics, /healthz, /readyz and the dashboard on"),
    "RFM_WEB_PORT": ("6066", "port of the worker's metrics, health and dashboard server; 0 turns it off"),
    "RFM_LOG_FORMAT": ("text", "worker log format: text, or json (one object per line)"),
}


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
    recompute_interval: float = field(default_factory=lambda: float(env("RFM_RECOMPUTE_INTERVAL")))
    partitions: int = field(default_factory=lambda: int(env("RFM_PARTITIONS")))
    store: str = field(default_factory=lambda: env("RFM_STORE"))
    data_dir: Path = field(default_factory=lambda: Path(env("RFM_DATA_DIR")))
    run_dir: Path = field(default_factory=lambda: Path(env("RFM_RUN_DIR")))
    cache_dir: Path = field(default_factory=lambda: Path(env("RFM_CACHE_DIR")))
    segments_file: str = field(default_factory=lambda: env("RFM_SEGMENTS"))
    audiences_file: str = field(default_factory=lambda: env("RFM_AUDIENCES"))
    web_host: str = field(default_factory=lambda: env("RFM_WEB_HOST"))
    web_port: int = field(default_factory=lambda: int(env("RFM_WEB_PORT")))
    log_format: str = field(default_factory=lambda: env("RFM_LOG_FORMAT"))


def load() -> Settings:
    """Settings from the current environment."""
    return Settings()


def describe() -> str:
    """A table of every variable, its default and meaning, for --help and docs."""
    width = max(len(n) for n in ENV)
    return "\n".join(f"{n:<{width}}  {h} (default: {d or 'none'})" for n, (d, h) in ENV.items())


__all__ = ["ENV", "Settings", "load", "env", "describe"]
