"""A terminal a program can be driven in: a private tmux server running one command in a pane.

``keys`` and ``type`` press keys, ``lines`` reads the screen as a person sees it, ``wait_for``
polls it with a deadline. Used by tests/test_cli_tty.py and scripts/screenshot_cli.py (so it
imports nothing from pytest).
"""
from __future__ import annotations

import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path


class Tmux:
    """A private tmux server (its own socket, no config) running ``cmd`` in a ``width`` x ``height`` pane."""

    def __init__(self, cmd: str, env: dict[str, str], width: int = 100, height: int = 24) -> None:
        self.t = ["tmux", "-L", "zchat-" + uuid.uuid4().hex[:8], "-f", "/dev/null"]
        envargs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        # one invocation, so remain-on-exit is set before a fast program can exit
        subprocess.run([*self.t, "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
                        "new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), *envargs, cmd],
                       check=True, timeout=10)
        self.pane = self._tmux("display", "-p", "-t", "app", "#{pane_id}").strip()

    def _tmux(self, *args: str) -> str:
        return subprocess.run([*self.t, *args], capture_output=True, text=True, timeout=10).stdout

    def keys(self, *keys: str) -> None:          # key names: Enter, Tab, C-d, M-1, PPage ...
        subprocess.run([*self.t, "send-keys", "-t", self.pane, *keys], check=True, timeout=10)

    def type(self, text: str) -> None:           # literal text
        subprocess.run([*self.t, "send-keys", "-t", self.pane, "-l", text], check=True, timeout=10)

    def lines(self, escapes: bool = False) -> list[str]:
        """The screen, one string per row; tmux strips trailing spaces. ``escapes``: with the SGR
        sequences (colours, bold) that draw it."""
        args = ["capture-pane", "-p", "-t", self.pane] + (["-e"] if escapes else [])
        return [line.rstrip() for line in self._tmux(*args).splitlines()]

    def history(self) -> str:
        """Everything: the scrollback and the screen, also after the program exited."""
        return self._tmux("capture-pane", "-p", "-S", "-", "-t", self.pane)

    def cursor(self) -> tuple[int, int]:
        x, y = self._tmux("display", "-p", "-t", self.pane, "#{cursor_x},#{cursor_y}").split(",")
        return int(x), int(y)

    def size(self) -> tuple[int, int]:
        w, h = self._tmux("display", "-p", "-t", self.pane, "#{pane_width},#{pane_height}").split(",")
        return int(w), int(h)

    def resize_window(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "app", "-x", str(width), "-y", str(height))

    def split(self) -> None:
        """Open a second pane (an idle shell) below the program's, so resize-pane can change its size."""
        self._tmux("split-window", "-v", "-d", "-t", self.pane, "-l", "3", "sleep 600")

    def resize_pane(self, height: int) -> None:
        self._tmux("resize-pane", "-t", self.pane, "-y", str(height))

    def exit_status(self, timeout: float = 10.0) -> int:
        """The program's exit status, echoed by the shell that runs it (tmux's #{pane_dead_status}
        is sometimes empty in tmux 3.3)."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(r"\[exit (\d+)\]", self.history())
            if found:
                return int(found.group(1))
            if time.monotonic() > deadline:
                raise AssertionError("the program did not exit; screen was:\n" + self.history())
            time.sleep(0.05)

    def wait_for(self, pred: Callable[[list[str]], bool], timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if pred(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError("timeout; screen was:\n" + "\n".join(lines))
            time.sleep(0.05)      # polling the screen: tmux has no "screen changed" notification

    def wait_text(self, text: str, **kw: float) -> list[str]:
        return self.wait_for(lambda lines: any(text in line for line in lines), **kw)

    def watch_bells(self, path: Path) -> Callable[[], int]:
        """Count the bells (BEL, "\\a") the program rings from now on: tmux's alert-bell hook appends a
        line to ``path`` for each; the function returned says how many so far."""
        self._tmux("set-hook", "-g", "alert-bell", f"run-shell 'echo bell >> {shlex.quote(str(path))}'")

        def count() -> int:
            return len(path.read_text().splitlines()) if path.exists() else 0
        return count

    def bell_flag(self) -> bool:
        """tmux's own mark on the window: it rang since the window was last looked at."""
        return self._tmux("display", "-p", "-t", self.pane, "#{window_bell_flag}").strip() == "1"

    def close(self) -> None:
        self._tmux("kill-server")   # only this private server
