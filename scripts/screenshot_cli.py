"""Make the terminal client's screens for the docs from the real program: the CLI under tmux, real others.

Starts a broker in a temporary directory and two scripted users (plain Clients), bob and carol,
who talk in everyone and in #design (carol owns it and sets its topic) before alice arrives.
Then alice's terminal client opens in a 100x24 tmux pane and a conversation uses issue 15's
features: carol names alice (the bell rings, the line is marked »), bob reacts, carol edits,
alice replies and both read it ("seen by"), bob deletes a line, carol types; alice goes away and
back, lists who is there, searches and jumps to a hit with Alt+G; carol kicks bob. At each step
the pane is captured as text (``tmux capture-pane -p``).

    python scripts/screenshot_cli.py              write docs/screenshot-cli.txt (every screen, captioned)
    python scripts/screenshot_cli.py --readme     also put the conversation's screen into README.md, in
                                                  place of the block after <!-- screen: scripts/screenshot_cli.py -->
    python scripts/screenshot_cli.py --print      print the screens instead of writing the file

Needs tmux.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.screenshot_tk import start_broker  # noqa: E402  (after the path is set)
from tests.tmuxdriver import Tmux  # noqa: E402

if TYPE_CHECKING:
    from zchat import events as ev
    from zchat.client import Client

WIDTH, HEIGHT = 100, 24
MARKER = "<!-- screen: scripts/screenshot_cli.py -->"
TRANSCRIPT = ROOT / "docs" / "screenshot-cli.txt"
WAIT = 20.0
README_SHOT = 1          # which screen goes into README.md


def wait_event(client: Client, cond: Callable[[ev.Event], bool]) -> ev.Event:
    """Pull a scripted user's events until one satisfies ``cond``; that event."""
    for event in client.events(timeout=WAIT):
        if cond(event):
            return event
    sys.exit(f"timed out waiting on {client.name}")


class Session:
    """The broker, bob and carol as scripted Clients, and alice's terminal in tmux."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.broker = start_broker(tmp)
        self.server = (tmp / "broker" / "connect").read_text().strip()
        self.users: list[Client] = []
        self.term: Tmux | None = None
        self.shots: list[tuple[str, str]] = []

    def join(self, name: str) -> Client:
        from zchat import events as ev
        from zchat.client import Client
        c = Client(self.server, config_dir=self.tmp / "cfg")
        self.users.append(c)
        c.join(name)
        wait_event(c, lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.LIVE)
        return c

    def say(self, c: Client, line: str) -> int:
        """``c`` types ``line`` (a chat line or a command that makes one); the seq of its line."""
        from zchat import events as ev
        c.execute(line)
        text = line.split(" ", 1)[1] if line.startswith("/me ") else line

        def mine(e: ev.Event) -> bool:
            return isinstance(e, ev.MessageReceived) and e.own and text.endswith(e.text)
        got = wait_event(c, mine)
        assert isinstance(got, ev.MessageReceived)
        return got.seq

    def do(self, c: Client, line: str, done: Callable[[ev.Event], bool]) -> None:
        c.execute(line)
        wait_event(c, done)

    def open_terminal(self) -> Tmux:
        args = [sys.executable, "-m", "zchat", "--ui", "cli", "--server", self.server, "--config-dir",
                str(self.tmp / "cfg"), "--name", "alice"]
        self.term = Tmux(shlex.join(args), env={"TERM": "xterm-256color", "ZCHAT_DISABLE_PLUGIN_AUTOLOAD": "1"},
                         width=WIDTH, height=HEIGHT)
        return self.term

    def type(self, line: str, enter: bool = True) -> None:
        assert self.term is not None
        self.term.type(line)
        if enter:
            self.term.keys("Enter")

    def wait(self, pred: Callable[[list[str]], bool]) -> list[str]:
        assert self.term is not None
        return self.term.wait_for(pred, timeout=WAIT)

    def shoot(self, caption: str, pred: Callable[[list[str]], bool]) -> None:
        self.shots.append((caption, "\n".join(self.wait(pred))))

    def close(self) -> None:
        if self.term is not None:
            self.term.close()
        for c in self.users:
            c.close()
        self.broker.terminate()
        self.broker.wait(10)


def text_of(lines: list[str]) -> str:
    return "\n".join(lines)


def converse(s: Session) -> None:
    """The scripted conversation; every wait is for what proves the step, with a deadline."""
    from zchat import events as ev

    def info(word: str) -> Callable[[ev.Event], bool]:
        return lambda e: isinstance(e, ev.Info) and word in e.text

    bob, carol = s.join("bob"), s.join("carol")
    s.say(bob, "morning all! standup in 10 minutes")
    s.say(carol, "on my way, the coffee machine is broken again")
    s.do(carol, "/create design", info("design"))
    s.do(bob, "/join design", info("design"))
    s.do(carol, "/topic the join screen, due friday",
         lambda e: isinstance(e, ev.MessageReceived) and e.text.startswith("set the topic"))
    mockups = s.say(carol, "first mock-ups of the join screen are in the shared folder")
    s.say(bob, "nice! the colours work in a dark terminal too")
    s.say(bob, "/me makes tea")

    bells = s.open_terminal().watch_bells(s.tmp / "bells")
    s.wait(lambda lines: "[live]" in lines[-2] and "coffee machine" in text_of(lines))
    s.do(carol, "/invite alice design", lambda e: isinstance(e, ev.Info) and "alice" in e.text)
    s.wait(lambda lines: "invited you to #design" in text_of(lines))
    s.type("/join design")
    s.wait(lambda lines: lines[0].startswith(" 2:#design  group design: the join screen") and "makes tea" in
           text_of(lines))
    ask = s.say(carol, "@alice can you check the mock-ups today?")
    s.wait(lambda lines: "carol » @alice can you check" in text_of(lines) and bells() == 1)   # it rang
    s.do(bob, f"/react {mockups} 👍", lambda e: isinstance(e, ev.MessageChanged) and e.seq == mockups)
    s.do(carol, f"/react {mockups} 🎉", lambda e: isinstance(e, ev.MessageChanged) and e.seq == mockups
         and len(e.reactions) == 2)
    s.do(carol, "/edit @alice can you check the mock-ups before lunch?",
         lambda e: isinstance(e, ev.MessageChanged) and e.change == "edit")
    s.type(f"/reply {ask} yes, right after standup")
    s.wait(lambda lines: "seen by bob, carol" in text_of(lines))
    oops = s.say(bob, "wrong window, sorry")
    s.do(bob, f"/delete {oops}", lambda e: isinstance(e, ev.MessageChanged) and e.change == "delete")
    bob.dm("alice", "can you review my reconnect patch today?")
    carol.typing("g:design")
    s.type("on it", enter=False)
    s.shoot("alice in #design: carol named her (the bell rang, » marks the line), bob and carol reacted, carol "
            "edited her line, alice replied (↳ quotes it) and both read it, bob deleted a line and sent her a DM, "
            "carol is typing; the status bar's activity list counts the DM apart (@1)",
            lambda lines: "carol is typing…" in lines[-2] and "(edited)" in text_of(lines)
            and "3:@bob(1 @1)" in lines[-2] and "message deleted" in text_of(lines) and lines[-1].endswith("on it"))
    assert s.term is not None
    s.term.keys("C-c")                                       # clear the half-typed line

    s.type("/away lunch")
    s.wait(lambda lines: lines[-2].startswith(" [alice (away: lunch)]"))
    s.do(carol, "/dnd focus time", lambda e: isinstance(e, ev.StatusChanged))
    s.type("/who design")
    s.shoot("/away lunch: alice's state in her status bar; /who design lists each member's state and role",
            lambda lines: "carol (do not disturb: focus time) owner" in text_of(lines))
    s.type("/back")
    s.wait(lambda lines: lines[-2].startswith(" [alice] "))

    s.term.keys("M-1")
    s.wait(lambda lines: lines[0].startswith(" 1:everyone"))
    s.type("/search mock-ups")
    s.shoot("in everyone, the presence lines say who went away and why; /search mock-ups lists the hits, newest "
            "first", lambda lines: 'search "mock-ups": 2 lines' in text_of(lines))
    s.term.keys("M-g")
    s.term.keys("M-g")
    s.shoot("Alt+G twice: the second hit, carol's first line, shown in #design among the lines around it "
            "(its #seq in reverse video; -MORE- says there is more below)",
            lambda lines: lines[0].startswith(" 2:#design") and "-MORE(" in lines[-2]
            and "first mock-ups" in text_of(lines))
    s.term.keys("PageDown")
    s.term.keys("PageDown")
    s.do(carol, "/kick bob", lambda e: isinstance(e, ev.MessageReceived) and e.text == "kicked bob")
    s.shoot("moderation: carol (the owner) kicked bob, a line every member sees",
            lambda lines: "carol kicked bob" in text_of(lines) and "-MORE" not in lines[-2])


def capture() -> list[tuple[str, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="zchat-cli-shot-"))
    s = Session(tmp)
    try:
        converse(s)
        return s.shots
    finally:
        s.close()
        shutil.rmtree(tmp, ignore_errors=True)


def transcript(shots: list[tuple[str, str]]) -> str:
    head = ["zchat's terminal client (python -m zchat --ui cli), captured from the real program in a 100x24 tmux",
            "pane by scripts/screenshot_cli.py: alice at the keyboard, bob and carol scripted clients, one broker.",
            "Each line shows its #seq (what /reply, /react, /edit and /delete take).", ""]
    rule = "-" * WIDTH
    body = [f"{textwrap.fill(f'{k}. {caption}', WIDTH)}\n{rule}\n{screen}\n{rule}\n"
            for k, (caption, screen) in enumerate(shots, start=1)]
    return "\n".join(head + body)


def put_in_readme(screen: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    block = re.compile(re.escape(MARKER) + r"\n```text\n.*?\n```", re.DOTALL)
    if not block.search(text):
        sys.exit(f"README.md has no ```text block right after {MARKER}")
    readme.write_text(block.sub(lambda _: f"{MARKER}\n```text\n{screen}\n```", text, count=1), encoding="utf-8")
    print("updated README.md")


def main() -> int:
    if not shutil.which("tmux"):
        sys.exit("tmux is needed: apt-get install tmux")
    os.environ.setdefault("ZCHAT_DISABLE_PLUGIN_AUTOLOAD", "1")
    shots = capture()
    if "--print" in sys.argv[1:]:
        print(transcript(shots))
    else:
        TRANSCRIPT.write_text(transcript(shots), encoding="utf-8")
        print(f"wrote {TRANSCRIPT.relative_to(ROOT)}")
    if "--readme" in sys.argv[1:]:
        put_in_readme(shots[README_SHOT - 1][1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
