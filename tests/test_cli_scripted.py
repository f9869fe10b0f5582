"""Issue 15 in the full-screen terminal client, in real terminals: alice and bob each run
``python -m zchat --ui cli`` in their own tmux pane against a real broker and talk, using every
feature (/me, mentions and the bell, /edit, /reply, "seen by", /react and taking it back,
/delete, typing, /away /back /dnd, /search and Alt+G, /topic, /kick /ban /unban /op), and each
step waits (bounded) for what the other's screen shows. The bell is counted by tmux's alert-bell
hook, so "no bell while on do not disturb" is a count that did not move.
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import BrokerProcess
from tests.test_cli import User, joined
from tests.test_cli_tty import body, live, showing, status, terminal, title  # noqa: F401  (terminal: a fixture)
from tests.tmuxdriver import Tmux

WAIT = 20.0       # seconds: each step on a busy 2-core machine


def say(t: Tmux, line: str) -> None:
    t.type(line)
    t.keys("Enter")


def seq_of(t: Tmux, text: str) -> int:
    """The #seq the screen shows on the row of the line that holds ``text``."""
    lines = t.wait_text(text, timeout=WAIT)
    at = next(k for k, line in enumerate(lines) if text in line)
    for row in reversed(lines[:at + 1]):             # a reply's first row is its quote
        found = re.match(r"\d\d:\d\d +#(\d+) ", row)
        if found:
            return int(found.group(1))
    raise AssertionError(f"no #seq for {text!r}:\n" + "\n".join(lines))


def rows_after(lines: list[str], text: str) -> list[str]:
    """The text column of the rows from the one holding ``text`` on ([] while none does)."""
    rows = body(lines).splitlines()
    first = next((k for k, row in enumerate(rows) if text in row), None)
    if first is None:
        return []
    return [re.split(r" [│»] |^ +│ ", row, maxsplit=1)[-1] for row in rows[first:]]


def keep_typing(typist: Tmux, watcher: Tmux, text: str) -> str:
    """``typist`` types ``text`` a key at a time until ``watcher``'s status bar says it is typing (bounded
    by the text's length, a key at most every 0.3 s); what was typed."""
    for k, ch in enumerate(text):
        typist.type(ch)
        try:
            watcher.wait_for(lambda lines: status(lines).endswith("is typing…"), timeout=0.3)
        except AssertionError:
            continue
        return text[:k + 1].rstrip()
    raise AssertionError("never shown as typing:\n" + "\n".join(watcher.lines()))


def until(t: Tmux, pred: Callable[[list[str]], bool]) -> list[str]:
    return t.wait_for(pred, timeout=WAIT)


def test_alice_and_bob_use_every_feature_of_issue_15_in_their_terminals(terminal, tmp_path: Path) -> None:  # noqa: F811
    alice, bob = terminal("alice"), terminal("bob")
    bells = alice.watch_bells(tmp_path / "alice-bells")
    live(alice, "alice")
    live(bob, "bob")

    # a group with a topic: the title bar shows it, the change is a line in the group
    say(alice, "/create dev")
    showing(alice, 2, "#dev")
    say(bob, "/join dev")
    showing(bob, 2, "#dev", "bob joined")
    say(alice, "/topic release on friday")
    for t in (alice, bob):
        until(t, lambda lines: title(lines).startswith(" 2:#dev  group dev: release on friday")
              and "alice set the topic: release on friday" in body(lines))

    # /me, and a mention: highlighted, marked », and the bell rings once
    say(bob, "/me waves")
    until(alice, lambda lines: "* │ bob waves" in body(lines))
    say(bob, "@alice lunch at noon?")
    until(alice, lambda lines: "bob » @alice lunch at noon?" in body(lines))
    until(alice, lambda lines: bells() == 1)
    assert alice.bell_flag()
    coloured = alice.lines(escapes=True)
    assert "\x1b[43m" in next(row for row in coloured if "lunch at noon?" in row)     # the name in yellow

    # /edit: redrawn in place with (edited), and a line says what changed
    lunch = seq_of(alice, "lunch at noon?")
    say(bob, "/edit @alice lunch at 12?")
    until(alice, lambda lines: f"bob edited #{lunch}: @alice lunch at 12?" in body(lines)
          and "bob » @alice lunch at 12? (edited)" in body(lines) and "lunch at noon" not in body(lines))

    # /reply quotes what it answers; bob reads it, so alice's last line says "seen by bob"
    say(alice, f"/reply {lunch} yes, 12 works")
    until(bob, lambda lines: "↳ bob: @alice lunch at 12?" in body(lines) and "yes, 12 works" in body(lines))
    assert rows_after(bob.lines(), "↳ bob: @alice lunch at 12?")[:2] == ["↳ bob: @alice lunch at 12?", "yes, 12 works"]
    until(alice, lambda lines: rows_after(lines, "yes, 12 works")[:2] == ["yes, 12 works", "seen by bob"])

    # /react, aggregated under the line with who; the same again takes it back
    reply = seq_of(bob, "yes, 12 works")
    say(bob, f"/react {reply} 👍")
    until(alice, lambda lines: f"bob reacted 👍 to #{reply} (👍 1 (bob))" in body(lines)
          and rows_after(lines, "yes, 12 works")[1:3] == ["👍 1 (bob)", "seen by bob"])
    say(bob, f"/react {reply} 👍")
    until(alice, lambda lines: f"bob took back a reaction to #{reply}" in body(lines)
          and rows_after(lines, "yes, 12 works")[1:2] == ["seen by bob"])

    # /delete leaves a tombstone
    say(bob, "oops, wrong window")
    oops = seq_of(alice, "oops, wrong window")
    say(bob, "/delete")
    until(alice, lambda lines: f"bob deleted #{oops}" in body(lines) and "oops" not in body(lines)
          and re.search(rf"#{oops} +bob │ message deleted", body(lines)) is not None)

    # typing: shown in the status bar while bob types, gone when his line comes. The core tells the
    # others at most every 3 s, and bob's last notice was for "oops": he types on, key by key, as people do
    typed = keep_typing(bob, alice, "almost done, just the tests left to write and then the docs")
    bob.keys("Enter")
    until(alice, lambda lines: f"bob │ {typed}" in body(lines) and "typing" not in status(lines))

    # away with a reason, back, do not disturb: alice's own state in her status bar, bob sees each
    say(alice, "/away lunch")
    until(alice, lambda lines: status(lines).startswith(" [alice (away: lunch)] 2:#dev"))
    say(bob, "/who dev")
    until(bob, lambda lines: "alice (away: lunch) owner" in body(lines))
    say(alice, "/back")
    until(alice, lambda lines: status(lines).startswith(" [alice] 2:#dev"))
    say(alice, "/dnd focus time")
    until(alice, lambda lines: status(lines).startswith(" [alice (do not disturb: focus time)] "))
    bob.keys("M-1")
    showing(bob, 1, "everyone", "alice is away: lunch", "alice is online again",
            "alice is on do not disturb: focus time")
    bob.keys("M-2")
    showing(bob, 2, "#dev")
    say(bob, "@alice quick question")                        # highlighted, but no bell and no »
    until(alice, lambda lines: "bob │ @alice quick question" in body(lines))
    say(alice, "/back")
    until(alice, lambda lines: status(lines).startswith(" [alice] 2:#dev"))
    say(bob, "@alice welcome back")
    until(alice, lambda lines: "bob » @alice welcome back" in body(lines) and bells() >= 2)
    assert bells() == 2, "the line said while on do not disturb rang the bell"

    # search from another buffer, newest first; Alt+G shows the hit in its conversation, marked
    alice.keys("M-1")
    showing(alice, 1, "everyone")
    say(alice, "/search lunch")
    until(alice, lambda lines: 'search "lunch": 1 line, newest first' in body(lines)
          and f"#dev #{lunch} bob: @alice lunch at 12?" in body(lines) and "Alt+G" in body(lines))
    alice.keys("M-g")
    showing(alice, 2, "#dev", "lunch at 12? (edited)")
    until(alice, lambda lines: any("\x1b[7m" in row and "lunch at 12?" in row         # the hit, marked
                                   for row in alice.lines(escapes=True)))

    # moderation: each action is a line in the group; bob is told, and a ban keeps him out
    say(alice, "/op bob")
    until(alice, lambda lines: "alice made bob an admin" in body(lines))
    say(alice, "/deop bob")
    until(bob, lambda lines: "alice made bob a member" in body(lines))
    say(alice, "/kick bob")
    until(alice, lambda lines: "alice kicked bob" in body(lines))
    until(bob, lambda lines: "you were kicked from dev by alice" in body(lines)
          and not title(lines).startswith(" 2:#dev"))
    say(bob, "/join dev")
    showing(bob, 2, "#dev")
    until(alice, lambda lines: body(lines).rstrip().endswith("bob joined"))
    say(alice, "/ban bob")
    until(alice, lambda lines: "alice banned bob" in body(lines))
    until(bob, lambda lines: "you were banned from dev by alice" in body(lines))
    say(bob, "/join dev")
    until(bob, lambda lines: re.search(r"! │ .*banned", body(lines)) is not None)
    say(alice, "/unban bob")
    until(alice, lambda lines: "alice unbanned bob" in body(lines))
    say(bob, "/join dev")
    showing(bob, 2, "#dev", "alice unbanned bob")


def test_away_by_itself_after_the_idle_time_given_and_online_at_the_next_line(
        terminal, broker: BrokerProcess, tmp_path: Path) -> None:  # noqa: F811
    alice = terminal("alice")
    live(alice, "alice")
    carol = User(broker, tmp_path / "cfg-carol", "carol", "--away-after", "1")
    try:
        joined(carol)
        showing(alice, 1, "everyone", "carol is here")
        until(alice, lambda lines: "carol is away (idle)" in body(lines))
        carol.say("back at my desk")
        until(alice, lambda lines: "carol is online again" in body(lines)
              and "carol │ back at my desk" in body(lines))
    finally:
        carol.stop()


def test_the_docs_transcript_script_runs_the_real_programs_through_the_features() -> None:
    """scripts/screenshot_cli.py (docs/screenshot-cli.txt) still works: every screen it waits for came."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "screenshot_cli.py"
    r = subprocess.run([sys.executable, str(script), "--print"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    for seen in ("» @alice can you check the mock-ups before lunch? (edited)", "↳ carol: @alice can you check",
                 "seen by bob, carol", "👍 1 (bob)  🎉 1 (carol)", "message deleted", "carol is typing…",
                 "[alice (away: lunch)]", "carol (do not disturb: focus time) owner", 'search "mock-ups": 2 lines',
                 "-MORE(", "carol kicked bob", "3:@bob(1 @1)", "* │ bob makes tea"):
        assert seen in r.stdout, seen
