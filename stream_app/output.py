"""Writing results so that a failure never leaves a half-written file behind.

Every result is written to a temporary file beside its target and renamed over
it only when complete. A symlink as the target is written through: its target
file is replaced and the link kept, as a shell redirection would. A target that
exists and is not a regular file (/dev/null, a named pipe) is written into as
a stream, never replaced. Paths that
cannot be written (a directory, a read-only folder, the input itself) stop
with a one-line OutputError before anything is computed or written.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import pandas as pd

from stream_app.errors import OutputError

STDOUT = "-"


def target_of(path: str) -> Path:
    """The file a result for ``path`` replaces: the path itself, or what a symlink points to."""
    return Path(os.path.realpath(path))


def check_output(path: str, *inputs: str | None) -> None:
    """Refuse an output path that is an input, a directory, or in a folder that cannot be written.

    Checked before the work starts, so a long batch does not fail at its end
    (and an input is never overwritten by its own result).
    """
    if path == STDOUT:
        return
    target = target_of(path)
    for given in inputs:
        if given and given != STDOUT and (target == target_of(given) or _same_file(target, given)):
            raise OutputError(f"is the input {given}; write the result to another file", path)
    if target.is_dir():
        raise OutputError("is a directory; give a file name", path)
    folder = _existing_ancestor(target.parent)
    if not folder.is_dir():
        raise OutputError(f"{folder} is not a directory", path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write in {folder}: permission denied", path)


@contextmanager
def atomic_binary(path: str) -> Iterator[BinaryIO]:
    """A binary file object that becomes ``path`` only if the block succeeds ('-' is stdout)."""
    if path == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    check_output(path)
    target = target_of(path)
    if target.exists() and not target.is_file():  # a device or a pipe: renaming over it would replace it
        try:
            with open(target, "wb") as stream:
                yield stream
        except OSError as exc:
            raise OutputError(f"cannot write: {_reason(exc)}", path) from None
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write: {_reason(exc)}", path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; give it an ordinary file's mode
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write: {_reason(exc)}", path) from None
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


def _same_file(target: Path, other: str) -> bool:
    try:
        return target.exists() and os.path.samefile(target, other)  # hard links, bind mounts
    except OSError:
        return False


def _existing_ancestor(folder: Path) -> Path:
    """The nearest folder that exists (missing ones below it are created when writing)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _reason(exc: OSError) -> str:
    """'permission denied', 'no space left on device': the OS's words without the errno and repr noise."""
    return exc.strerror.lower() if exc.strerror else str(exc)
