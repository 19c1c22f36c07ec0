"""The Lua scripts of the Redis contract, read from the ``scripts/`` folder shipped in the package.

Each script Redis runs is its ``.lua`` file after one generated line that names the write statuses
(``local STALE, SAME, WRITTEN, KEPT = -1, 0, 1, 2``) from :class:`~stream_app.core.profile.WriteStatus`,
so the numbers are written once, in Python, and the Lua says the names. (A line number in a Redis error
about a script is therefore one more than the file's.)
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from stream_app.core.profile import WriteStatus

WRITE_PROFILES = "write_profiles"
LOAD_PROFILES = "load_profiles"
LOAD_RANK_INDEX = "load_rank_index"
READ_PROFILES = "read_profiles"
ANNOUNCE = "announce"
READ_CUTS = "read_cuts"
STORE_BOUNDARIES = "store_boundaries"
MARK_RESCORED = "mark_rescored"
MARK_EPOCH = "mark_epoch"
RESTORE_BOUNDARIES = "restore_boundaries"

ALL = (WRITE_PROFILES, LOAD_PROFILES, LOAD_RANK_INDEX, READ_PROFILES, ANNOUNCE, READ_CUTS, STORE_BOUNDARIES, MARK_RESCORED, MARK_EPOCH, RESTORE_BOUNDARIES)


def constants() -> str:
    """The Lua line that names every :class:`WriteStatus`."""
    return f"local {', '.join(s.name for s in WriteStatus)} = {', '.join(str(s.value) for s in WriteStatus)}\n"


@cache
def source(name: str) -> str:
    """The text Redis runs for ``scripts/{name}.lua``."""
    return constants() + (files(__package__) / "scripts" / f"{name}.lua").read_text(encoding="utf-8")
