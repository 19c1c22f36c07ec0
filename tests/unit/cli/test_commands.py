"""The command table: every entry is the command it names, and a command imports only what it needs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
import pytest

from stream_app.cli import COMMANDS, cli

PACKAGE = Path(__file__).resolve().parents[3] / "stream_app"


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
def test_each_entry_loads_the_command_it_names(spec):
    command = cli.get_command(click.Context(cli), spec.name)
    assert isinstance(command, click.Command) and command.name == spec.name
    assert command.help, f"{spec.name}: no help text"


def test_help_lists_every_command_once():
    names = [spec.name for spec in COMMANDS]
    assert len(set(names)) == len(names)
    assert cli.list_commands(click.Context(cli)) == sorted(names)


@pytest.mark.parametrize("name", ["batch", "events", "audiences", "report"])
def test_file_commands_do_not_import_the_streaming_clients(name):
    """The table imports a command's module on use: scoring a file must not pay for Faust or Kafka."""
    code = ("import sys, click\nfrom stream_app.cli import cli\n"
            f"cli.get_command(click.Context(cli), {name!r})\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'faust', 'mode', 'kafka', 'aiokafka', 'redis'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_no_module_imports_a_private_name_of_another():
    """A name with a leading underscore is its module's own; one that others need is made public where it lives."""
    private = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stream_app"):
                private += [f"{path.relative_to(PACKAGE.parent)}: {node.module}.{a.name}"
                            for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert private == []
