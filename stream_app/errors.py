"""One root exception for rfm-stream; the CLI turns any of them into a one-line message."""

from __future__ import annotations


def one_line(text: str) -> str:
    """A message that stays one line whatever a file name or a cell holds (line breaks shown escaped)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


class RfmError(Exception):
    """Root of every error rfm-stream raises on purpose."""


class BadInput(RfmError):
    """Input that cannot be read as the format claims: names the file, the line and the field."""

    def __init__(self, reason: str, *, source: str = "", line: int | None = None, field: str | None = None):
        self.reason = reason
        self.source = source
        self.line = line
        self.field = field
        where = source or "input"
        if line is not None:
            where += f", line {line}"
        if field:
            where += f", field {field!r}"
        super().__init__(one_line(f"{where}: {reason}"))


class OutputError(RfmError):
    """A result that cannot be written where asked (a directory, a read-only folder, the input itself)."""

    def __init__(self, reason: str, path: str):
        self.reason = reason
        self.path = path
        super().__init__(one_line(f"{path}: {reason}"))


class BadEvent(RfmError):
    """One event that fails the order-event contract; carries a reason for the dead-letter topic."""

    def __init__(self, reason: str, field: str | None = None):
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


class ConfigError(RfmError):
    """A configuration file (segment map, audiences) that does not hold together."""


class StackError(RfmError):
    """The local Kafka/Redis stack could not be started, reached or stopped."""
