"""The interactive terminal client in a real terminal: tmux runs it, ``send-keys`` types and
``capture-pane`` shows the screen as a person would see it. The other side of each chat is a
plain-line-mode client (tests/test_cli.py's ``User``). Every wait polls the screen with a deadline.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.conftest import BrokerProcess
from tests.test_cli import User, joined

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")

WIDTH, HEIGHT = 100, 24


class Tmux:
    """A private tmux server (its own socket, no config) running one program in a WIDTH x HEIGHT pane."""

    def __init__(self, cmd: str, env: dict[str, str]) -> None:
        self.t = ["tmux", "-L", "zchat-test-" + uuid.uuid4().hex[:8], "-f", "/dev/null"]
        envargs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        # one invocation, so remain-on-exit is set before a fast program can exit
        subprocess.run([*self.t, "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
                        "new-session", "-d", "-s", "app", "-x", str(WIDTH), "-y", str(HEIGHT), *envargs, cmd],
                       check=True, timeout=10)

    def _tmux(self, *args: str) -> str:
        return subprocess.run([*self.t, *args], capture_output=True, text=True, timeout=10).stdout

    def keys(self, *keys: str) -> None:          # key names: Enter, Tab, C-d ...
        subprocess.run([*self.t, "send-keys", "-t", "app", *keys], check=True, timeout=10)

    def type(self, text: str) -> None:           # literal text
        subprocess.run([*self.t, "send-keys", "-t", "app", "-l", text], check=True, timeout=10)

    def lines(self) -> list[str]:                # tmux strips trailing spaces
        return [line.rstrip() for line in self._tmux("capture-pane", "-p", "-t", "app").splitlines()]

    def history(self) -> str:                    # everything, after the pane died too
        return self._tmux("capture-pane", "-p", "-S", "-", "-t", "app")

    def cursor(self) -> tuple[int, int]:
        x, y = self._tmux("display", "-p", "-t", "app", "#{cursor_x},#{cursor_y}").split(",")
        return int(x), int(y)

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

    def wait_text(self, text: str, **kw) -> list[str]:
        return self.wait_for(lambda lines: any(text in line for line in lines), **kw)

    def close(self) -> None:
        self._tmux("kill-server")   # only this private server


@pytest.fixture
def terminal(broker: BrokerProcess, tmp_path: Path) -> Iterator[Callable[..., Tmux]]:
    made: list[Tmux] = []

    def start(name: str | None) -> Tmux:
        args = [sys.executable, "-m", "zchat", "--ui", "cli", "--server", broker.connect,
                "--config-dir", str(tmp_path / f"tty-{name}")] + (["--name", name] if name else [])
        env = {"TERM": "xterm-256color", "ZCHAT_DISABLE_PLUGIN_AUTOLOAD": "1"}
        made.append(Tmux(shlex.join(args) + '; echo "[exit $?]"', env=env))
        return made[-1]

    yield start
    for t in made:
        assert "Traceback" not in t.history(), t.history()
        t.close()


@pytest.fixture
def other(broker: BrokerProcess, tmp_path: Path) -> Iterator[Callable[[str], User]]:
    made: list[User] = []

    def start(name: str) -> User:
        made.append(User(broker, tmp_path / f"cfg-{name}", name))
        return made[-1]

    yield start
    for u in made:
        u.stop()


def live(t: Tmux, name: str) -> None:
    t.wait_text(f"* joined as {name}")
    t.wait_for(lambda lines: "everyone>" in lines and any(line.endswith("| live | no unread") for line in lines))


def test_incoming_lines_never_corrupt_the_line_being_typed(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob = other("bob")
    joined(bob)
    alice.wait_text("bob: bob is here")
    for ch in "half typ":
        alice.type(ch)
    for k in range(1, 9):              # lines arrive while alice types, key by key
        bob.say(f"incoming {k}")
        alice.type("ed line "[k - 1])
    typed = "everyone> half typed line"
    screen = alice.wait_for(lambda lines: any("bob: incoming 8" in line for line in lines) and typed in lines
                            and lines[-1].strip() == "everyone | live | no unread")    # not caught mid-redraw
    row = screen.index(typed)
    assert all(line == "" for line in screen[row + 1:-1])                  # room kept for the completion menu
    assert screen[-1].strip() == "everyone | live | no unread"            # the status line at the bottom
    assert alice.cursor() == (len(typed + " "), row)                     # after the typed trailing space
    incoming = [line for line in screen[:row] if "incoming" in line]
    assert [line.split("] ", 1)[1] for line in incoming] == [f"bob: incoming {k}" for k in range(1, 9)]
    assert all(line[:2].isdigit() and "[everyone]" in line for line in incoming)

    alice.type("plus the end")
    alice.keys("Enter")
    got = bob.wait_text("half typed line plus the end")
    assert got.endswith("[everyone] alice: half typed line plus the end")
    alice.wait_text("[everyone] alice: half typed line plus the end")
    alice.wait_for(lambda lines: "everyone>" in lines)                    # an empty prompt again

    n = len(bob.lines)
    alice.keys("C-d")
    bob.wait_line(lambda line: line.endswith("* alice left"), start=n)
    assert alice.exit_status() == 0
    assert "* left" in alice.history()


def test_tab_completes_commands_and_names(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob = other("bob")
    joined(bob)
    alice.wait_text("bob: bob is here")

    alice.type("/he")
    alice.keys("Tab")
    alice.wait_for(lambda lines: "everyone> /help" in lines)
    alice.keys("Enter")
    alice.wait_text("/msg NAME TEXT")

    alice.type("/ms")
    alice.keys("Tab")
    alice.wait_for(lambda lines: "everyone> /msg" in lines)              # typing on at once would cancel it
    alice.type("bo")
    alice.keys("Tab")
    alice.wait_for(lambda lines: "everyone> /msg bob" in lines)
    alice.type("completed dm")
    alice.keys("Enter")
    assert bob.wait_text("completed dm").endswith("[@alice] alice: completed dm")

    alice.type("/switch @b")
    alice.keys("Tab")
    alice.wait_for(lambda lines: "everyone> /switch @bob" in lines)
    alice.keys("Enter")
    alice.wait_for(lambda lines: "@bob>" in lines and any(line.strip().startswith("@bob | live") for line in lines))


def test_status_line_counts_unread_and_the_name_is_asked(terminal, other) -> None:
    carol = terminal(None)
    carol.wait_text("your name:")
    carol.type("carol")
    carol.keys("Enter")
    live(carol, "carol")
    bob = other("bob")
    joined(bob)
    carol.wait_text("bob: bob is here")
    bob.say("/msg carol one")
    bob.say("/msg carol two")
    carol.wait_for(lambda lines: any(line.strip() == "everyone | live | unread: @bob 2" for line in lines))
    carol.type("/switch @bob")
    carol.keys("Enter")
    carol.wait_for(lambda lines: any(line.strip() == "@bob | live | no unread" for line in lines))
    carol.keys("C-c")
    bob.wait_text("* carol left")
    assert carol.exit_status() == 0
