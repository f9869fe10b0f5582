"""README.md stays in step with the programs it describes (the style of tests/test_docs.py).

The broker's options table is checked against ``zchat.broker.build_parser()`` itself, not a list
written here, so an option added to the broker fails this test until the README names it.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from zchat import commands
from zchat.broker import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
NOT_SETTINGS = {"--help", "--version"}       # every command has them; the table lists what to set


def section(heading: str) -> str:
    """The text from ``heading`` (a whole line) to the next heading of the same or a higher level."""
    m = re.search(rf"^{re.escape(heading)}\n", README, re.MULTILINE)
    assert m, f"README.md has no heading {heading!r}"
    level = heading.split()[0]
    nxt = re.search(rf"^#{{1,{len(level)}}} ", README[m.end():], re.MULTILINE)
    return README[m.end():m.end() + nxt.start() if nxt else len(README)]


def table_options() -> set[str]:
    """Every --option named in backticks in the first column of the broker's options table."""
    rows = [ln for ln in section("### The broker's options").splitlines() if ln.startswith("| `")]
    assert rows, "no options table under '### The broker's options'"
    return {opt for row in rows for opt in re.findall(r"`(--[a-z][a-z0-9-]*)", row.split("|")[1])}


def parser_options() -> set[str]:
    return {s for action in build_parser()._actions for s in action.option_strings if s.startswith("--")}


def test_every_broker_option_is_in_the_readme_table_and_nothing_else_is() -> None:
    documented, real = table_options(), parser_options() - NOT_SETTINGS
    assert not real - documented, f"options missing from README's table: {sorted(real - documented)}"
    assert not documented - real, f"README's table names options the broker does not have: {sorted(documented - real)}"


def test_the_parser_read_here_is_the_one_behind_broker_help() -> None:
    out = subprocess.run([sys.executable, "-m", "zchat.broker", "--help"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", out)) == parser_options()


@pytest.mark.parametrize("command", sorted(commands.COMMANDS))
def test_the_terminal_client_section_names_every_slash_command(command: str) -> None:
    assert f"/{command}" in section("### The terminal client")


def test_the_readme_says_what_a_newcomer_needs() -> None:
    for needed in ("Python 3.11", "python3-venv", "python3-tk", "sudo", "pip install -r bench/requirements.txt",
                   "HYPOTHESIS_PROFILE", "LICENSE"):
        assert needed in README, needed
