"""How the suite itself runs: .ci/run selects the thorough hypothesis profile, and the profile in
use is the one HYPOTHESIS_PROFILE asks for (tests/conftest.py registers both); it lints and
type-checks first, and a finding stops it; mypy's settings are the ones issue 11 asks for."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings
from mypy.main import process_options
from mypy.options import PER_MODULE_OPTIONS

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".ci" / "run"


def test_ci_runs_the_property_tests_at_full_strength() -> None:
    assert re.search(r"^export HYPOTHESIS_PROFILE=ci\b", RUN.read_text(), re.MULTILINE)
    ci, dev = settings.get_profile("ci"), settings.get_profile("dev")
    assert (ci.max_examples, ci.derandomize, ci.deadline, ci.database) == (1000, True, None, None)
    assert dev.max_examples < ci.max_examples and not dev.derandomize


def test_the_profile_in_use_is_the_one_asked_for() -> None:
    wanted = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
    assert (settings.default.max_examples, settings.default.derandomize) == (wanted.max_examples, wanted.derandomize)


def test_ci_run_says_when_it_skips_the_outside_acceptance_checks(tmp_path: Path) -> None:
    """The acceptance block of .ci/run, run in a directory with no ../shared/acceptance beside it."""
    text = RUN.read_text()
    block = text[text.index("if [ -f ../shared/acceptance/server.sh ]"):text.index('echo "== tests"')]
    (tmp_path / "clone").mkdir()
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path / "clone", capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "== outside acceptance checks: skipped, ../shared/acceptance is not next to " \
                                 "this clone (nothing is wrong)"


def test_ci_run_lints_and_type_checks_before_the_tests_and_a_finding_fails_it(tmp_path: Path) -> None:
    """The lint block of .ci/run, run with stand-ins for .venv/bin/ruff and mypy that log their
    arguments and fail when told to: each failure ends the run with an error."""
    text = RUN.read_text()
    start = text.index('echo "== lint and types')
    block = text[start:text.index("# The project's outside acceptance checks")]
    assert start < text.index('echo "== tests"')
    tools = tmp_path / ".venv" / "bin"
    tools.mkdir(parents=True)
    for tool in ("ruff", "mypy"):
        (tools / tool).write_text(f'#!/bin/sh\necho {tool} "$@" >> calls\nexit "${{FAIL_{tool.upper()}:-0}}"\n')
        (tools / tool).chmod(0o755)

    def run(**fail: str) -> tuple[int, list[str]]:
        (tmp_path / "calls").unlink(missing_ok=True)
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True,
                             timeout=30, env={**os.environ, **fail})
        calls = tmp_path / "calls"
        return out.returncode, calls.read_text().splitlines() if calls.exists() else []

    assert run() == (0, ["ruff check zchat tests bench plugins scripts", "mypy"])
    assert run(FAIL_RUFF="1") == (1, ["ruff check zchat tests bench plugins scripts"])
    assert run(FAIL_MYPY="1") == (1, ["ruff check zchat tests bench plugins scripts", "mypy"])
    # every top-level folder with Python in it is linted
    python_dirs = {d.name for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".") and any(d.rglob("*.py"))}
    assert python_dirs <= {"zchat", "tests", "bench", "plugins", "scripts"}, python_dirs


# issue 11: these are held to --strict; everything else is checked at mypy's default level
PURE = ("zchat.protocol", "zchat.messages", "zchat.errors", "zchat.hub", "zchat.presence", "zchat.store",
        "zchat.session", "zchat.commands", "zchat.events")


def test_mypy_holds_the_pure_modules_to_strict_and_the_rest_to_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per module, as mypy itself reads pyproject.toml (what plain `mypy` in .ci/run does). A
    `strict = true` override would fail this: mypy applies it to every module (python/mypy#11401)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MYPY_CONFIG_FILE_DIR", str(ROOT))     # mypy's config reader sets it: undone after the test
    _, default = process_options(["--config-file", "", "-c", "pass"])
    _, strict = process_options(["--config-file", "", "--strict", "-c", "pass"])
    flags = {k for k in PER_MODULE_OPTIONS if getattr(strict, k) != getattr(default, k)}
    assert {"disallow_untyped_defs", "disallow_any_generics", "warn_return_any"} <= flags

    sources, ours = process_options(["--config-file", str(ROOT / "pyproject.toml")])
    for module in PURE:
        got = ours.clone_for_module(module)
        assert {k for k in flags if getattr(got, k) != getattr(strict, k)} == set(), module
    for module in ("zchat.broker", "zchat.client", "zchat.frontends.tk.window", "zchat_echobot"):
        got = ours.clone_for_module(module)
        # the default level, and the unused "type: ignore" warning pyproject turns on everywhere
        assert {k for k in flags if getattr(got, k) == getattr(strict, k)} == {"warn_unused_ignores"}, module
    checked = {s.module for s in sources}
    assert {*PURE, "zchat.frontends.tk.window", "zchat_echobot"} <= checked
    assert not any(s.module.startswith(("tests", "bench", "test_")) for s in sources), sorted(checked)


def test_ci_runs_the_tests_on_three_workers_and_installs_what_that_needs() -> None:
    """Serially the suite takes about 12 minutes on 2 cores, close to CI's 15-minute budget."""
    assert re.search(r"^\.venv/bin/python -m pytest -n 3$", RUN.read_text(), re.MULTILINE)
    assert re.search(r"^\s+pytest-xdist>=", (ROOT / "setup.cfg").read_text(), re.MULTILINE)
