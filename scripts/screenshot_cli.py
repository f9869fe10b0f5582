"""Make the README's terminal-client screen from the real program: the CLI under tmux, real others.

Starts a broker in a temporary directory and two scripted users (plain Clients), who talk in
everyone and in #design before alice arrives. Then alice's terminal client opens in a 100x24
tmux pane: carol invites her to #design and she joins it (its buffer fills from the broker's
history), bob sends her a DM and carol names her in everyone while she is in #design (the
activity list counts both, marked "!"), and she starts typing an answer. The pane is captured as text
(``tmux capture-pane -p``) and printed, or with ``--readme`` put into README.md in place of
the block after ``<!-- screen: scripts/screenshot_cli.py -->``.

    python scripts/screenshot_cli.py [--readme]      (needs tmux)
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.screenshot_tk import start_broker, until  # noqa: E402  (after the path is set)
from tests.tmuxdriver import Tmux  # noqa: E402

WIDTH, HEIGHT = 100, 24
MARKER = "<!-- screen: scripts/screenshot_cli.py -->"


def capture() -> str:
    from zchat import events as ev
    from zchat.client import Client

    tmp = Path(tempfile.mkdtemp(prefix="zchat-cli-shot-"))
    broker = start_broker(tmp)
    server = (tmp / "broker" / "connect").read_text().strip()
    cfg = tmp / "cfg"
    users: list[Client] = []
    term: Tmux | None = None

    def join(name: str) -> Client:
        c = Client(server, config_dir=cfg)
        users.append(c)
        c.join(name)
        until(c, lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.LIVE)
        return c

    def say(c: Client, line: str) -> None:
        c.execute(line)
        until(c, lambda e: isinstance(e, ev.MessageReceived) and e.own and line.endswith(e.text))

    try:
        bob, carol = join("bob"), join("carol")
        say(bob, "morning all! standup in 10 minutes")
        say(carol, "on my way, the coffee machine is broken again")
        carol.create_group("design")
        until(carol, lambda e: isinstance(e, ev.Info) and "design" in e.text)
        bob.join_group("design")
        until(bob, lambda e: isinstance(e, ev.Info) and "design" in e.text)
        say(carol, "first mock-ups of the join screen are in the shared folder")
        say(bob, "nice! the colours work in a dark terminal too")
        bob.switch("all")
        args = [sys.executable, "-m", "zchat", "--ui", "cli", "--server", server, "--config-dir", str(cfg),
                "--name", "alice"]
        term = Tmux(shlex.join(args), env={"TERM": "xterm-256color", "ZCHAT_DISABLE_PLUGIN_AUTOLOAD": "1"},
                    width=WIDTH, height=HEIGHT)
        term.wait_for(lambda lines: "[live]" in lines[-2] and "coffee machine" in "\n".join(lines), timeout=20)
        say(bob, "alice, welcome! the release notes are in the wiki")
        carol.invite("alice", "design")
        term.wait_text("invited you to #design")
        term.type("/join design")
        term.keys("Enter")
        term.wait_for(lambda lines: lines[0].startswith(" 2:#design ") and "dark terminal" in "\n".join(lines))
        term.type("looks great, carol! can we keep the server field pre-filled?")
        term.keys("Enter")
        term.wait_text("alice │ looks great")
        say(carol, "yes, with the local broker by default")
        bob.dm("alice", "can you review my reconnect patch today?")
        carol.switch("all")
        say(carol, "alice, lunch at 12?")
        term.wait_for(lambda lines: lines[-2].endswith("[1:everyone(1!) 3:@bob(1!)]"))
        term.type("thanks! I'll rev")
        screen = term.wait_for(lambda lines: lines[-1].endswith("I'll rev"))
        return "\n".join(screen)
    finally:
        if term is not None:
            term.close()
        for c in users:
            c.close()
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


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
    screen = capture()
    if "--readme" in sys.argv[1:]:
        put_in_readme(screen)
    else:
        print(screen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
