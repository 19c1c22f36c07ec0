"""The Lua scripts ship in the package and name the write statuses from Python's WriteStatus."""

from __future__ import annotations

import re
from importlib.resources import files

from stream_app.core.profile import WriteStatus
from stream_app.redis import scripts


def test_every_script_file_is_loaded_by_name_and_every_name_has_a_file():
    shipped = {p.name.removesuffix(".lua") for p in (files("stream_app.redis") / "scripts").iterdir()
               if p.name.endswith(".lua")}
    assert shipped == set(scripts.ALL)


def test_each_script_starts_with_the_statuses_named_from_python():
    first = scripts.source(scripts.WRITE_PROFILES).splitlines()[0]
    assert first == "local STALE, SAME, WRITTEN, KEPT = -1, 0, 1, 2"
    assert first == f"local {', '.join(s.name for s in WriteStatus)} = {', '.join(str(int(s)) for s in WriteStatus)}"


def test_no_script_spells_a_status_number_or_a_key_name():
    """Statuses by name, keys from KEYS or from the heads stream_app/redis/keys.py builds."""
    for name in scripts.ALL:
        text = (files("stream_app.redis") / "scripts" / f"{name}.lua").read_text()
        code = "\n".join(line.split("--")[0] for line in text.splitlines())
        assert not re.search(r"'[a-z_]*:", code), f"{name}.lua builds a key name"
        assert not re.search(r"status(, stored_bv)? = -?\d", code), f"{name}.lua sets a status by number"
