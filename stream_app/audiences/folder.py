"""Writing the audience lists as one folder that changes whole: every list of the new rules, or the old folder.

A downstream job reads the folder as a set: files of different runs side by
side, or a list missing because the disk filled up after the first one, would
be read as a rule set that never existed. So the new lists are written into
a temporary sibling folder, flushed, and only then swapped for the old one
(two renames in one directory: the instant between them the folder is
absent, never mixed), which drops the lists of audiences the new rules no
longer have.

The folder is replaced only when it holds nothing but audience lists (files
``NAME.csv`` whose first line is ``customer_id``): pointed by mistake at a
folder of other files, the command refuses instead of removing them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from stream_app.core.names import is_name, shown
from stream_app.errors import BadInput

HEADER = b"customer_id\n"


def replace_folder(out_dir: str | Path, lists: Mapping[str, bytes]) -> list[Path]:
    """Make ``out_dir`` hold exactly ``NAME.csv`` for each name of ``lists``; the paths written, in that order."""
    target = Path(os.path.realpath(out_dir))  # through a symbolic link: the link keeps naming the new folder
    _check_replaceable(target, str(out_dir))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new"))
    except OSError as exc:
        raise BadInput(f"cannot create the folder: {exc.strerror or exc}", source=str(out_dir)) from None
    old: Path | None = None
    try:
        for name, content in lists.items():
            _write(staging / f"{name}.csv", content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; give it an ordinary folder's mode
        _fsync_dir(staging)
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
            os.replace(target, old / "lists")
        os.replace(staging, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        if old is not None and (old / "lists").exists() and not target.exists():
            os.replace(old / "lists", target)  # put the previous lists back
        shutil.rmtree(staging, ignore_errors=True)
        raise BadInput(f"cannot write the audience lists: {exc.strerror or exc}", source=str(out_dir)) from None
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return [Path(out_dir) / f"{name}.csv" for name in lists]


def _check_replaceable(target: Path, shown_path: str) -> None:
    if not target.exists():
        above = next(p for p in target.parents if p.exists())
        if not above.is_dir():
            raise BadInput(f"cannot create the folder: {above} is not a folder", source=shown_path)
        return
    if not target.is_dir():
        raise BadInput("exists and is not a folder (--out names the folder of the audience lists)", source=shown_path)
    for entry in sorted(target.iterdir()):
        if not _is_audience_list(entry):
            raise BadInput(f"holds {shown(entry.name)}, which is not an audience list; give a new or empty folder, "
                           "or one written by `rfm-stream audiences`", source=shown_path)


def _is_audience_list(entry: Path) -> bool:
    if entry.is_symlink() or not entry.is_file() or entry.suffix != ".csv" or not is_name(entry.stem):
        return False
    try:
        with open(entry, "rb") as fh:
            return fh.read(len(HEADER)) == HEADER
    except OSError:
        return False


def _write(path: Path, content: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
