"""Writing results so that a failure never leaves a half-written file behind."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import pandas as pd


@contextmanager
def atomic_binary(path: str) -> Iterator[BinaryIO]:
    """A binary file object that becomes ``path`` only if the block succeeds ('-' is stdout)."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; give it an ordinary file's mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: str) -> None:
    """CSV, or JSON records when the path ends in .json; '-' writes CSV to stdout."""
    writer: Callable[[BinaryIO], None]
    if path.endswith(".json"):
        writer = lambda fh: fh.write(df.to_json(orient="records", indent=1).encode())  # noqa: E731
    else:
        writer = lambda fh: df.to_csv(fh, index=False, lineterminator="\n")  # noqa: E731
    with atomic_binary(path) as fh:
        writer(fh)
