"""The pure layers stay pure: importing them pulls in no sockets, no database and no UI toolkit."""
from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = ("zmq", "sqlite3", "tkinter")


@pytest.mark.parametrize("module", ["zchat.protocol", "zchat.messages", "zchat.vocab", "zchat.events", "zchat.errors",
                                    "zchat.hub", "zchat.presence", "zchat.session"])
def test_pure_module_imports_no_sockets_database_or_ui(module: str) -> None:
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            f"print(','.join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"
