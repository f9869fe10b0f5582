"""How the suite itself runs: .ci/run selects the thorough hypothesis profile, and the profile in
use is the one HYPOTHESIS_PROFILE asks for (tests/conftest.py registers both)."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from hypothesis import settings

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
