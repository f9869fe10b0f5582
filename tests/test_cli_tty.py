"""The full-screen terminal client in a real terminal: tmux runs it, ``send-keys`` types and
``capture-pane`` shows the screen as a person would see it. The other side of each chat is a
plain-line-mode client (tests/test_cli.py's ``User``); two panes with their own config dirs are
two devices of one account. Every wait polls the screen for the content that proves the step,
with a deadline.

The screen: row 0 is the title bar (`` 2:#dev  group dev``), then the buffer on screen, then the
status bar (`` [alice] 2:#dev [live] [1:everyone(2 @1) 3:@bob(1 @1)]``), then the input line.
"""
from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess
from tests.test_cli import User, joined
from tests.tmuxdriver import Tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")

WIDTH, HEIGHT = 100, 24


@pytest.fixture
def terminal(broker: BrokerProcess, tmp_path: Path) -> Iterator[Callable[..., Tmux]]:
    made: list[Tmux] = []

    def start(name: str | None, *extra: str, config: str | None = None) -> Tmux:
        """``config``: the config dir's name (default: the user's); another one is another device."""
        args = [sys.executable, "-m", "zchat", "--ui", "cli", "--server", broker.connect,
                "--config-dir", str(tmp_path / f"tty-{config or name}"), *extra] + (["--name", name] if name else [])
        env = {"TERM": "xterm-256color", "ZCHAT_DISABLE_PLUGIN_AUTOLOAD": "1"}
        made.append(Tmux(shlex.join(args) + '; echo "[exit $?]"', env=env, width=WIDTH, height=HEIGHT))
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
        joined(made[-1])
        return made[-1]

    yield start
    for u in made:
        u.stop()


def title(lines: list[str]) -> str:
    return lines[0]


def body(lines: list[str]) -> str:
    """The buffer on screen: the rows between the title bar and the status bar."""
    return "\n".join(lines[1:-2])


def status(lines: list[str]) -> str:
    return lines[-2]


def name_style(coloured: list[str], text: str, name: str) -> str:
    """The SGR sequences that start the name column on the row that shows ``text`` (``coloured``:
    the screen with its escapes)."""
    row = next(row for row in coloured if text in row)
    found = re.search(r"((?:\x1b\[[0-9;]*m)+) *" + name + r"(?:\x1b| )", row)
    assert found, repr(row)
    return found.group(1)


def live(t: Tmux, name: str) -> None:
    t.wait_for(lambda lines: status(lines).startswith(f" [{name}] 1:everyone [live]"))
    t.wait_text(f"joined as {name}")


def showing(t: Tmux, number: int, label: str, *texts: str) -> list[str]:
    """Wait until buffer ``number:label`` is on screen with ``texts`` in it."""
    return t.wait_for(lambda lines: title(lines).startswith(f" {number}:{label} ")
                      and all(text in body(lines) for text in texts))


def activity(t: Tmux, hotlist: str) -> list[str]:
    """Wait until the status bar ends with the activity list ``hotlist`` ("" for none)."""
    return t.wait_for(lambda lines: status(lines).endswith("[live]" if not hotlist else f"[live] {hotlist}"))


def test_each_conversation_has_its_own_buffer_and_the_activity_list_counts_what_arrived_unseen(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob, carol = other("bob"), other("carol")
    showing(alice, 1, "everyone", "bob is here", "carol is here")
    carol.say("/create dev")
    carol.wait_text("* talking in #dev")
    carol.say("/invite alice dev")
    alice.wait_text("carol invited you to #dev: /join dev")
    alice.type("/join dev")
    alice.keys("Enter")
    showing(alice, 2, "#dev", "joined group dev")
    carol.say("dev line one")
    showing(alice, 2, "#dev", "carol │ dev line one")

    bob.say("/msg alice dm line one")                       # a new DM: buffer 3, hidden
    activity(alice, "[3:@bob(1 @1)]")
    carol.say("/switch everyone")
    carol.wait_text("* talking in everyone")
    carol.say("everyone line one")
    activity(alice, "[1:everyone(1) 3:@bob(1 @1)]")
    carol.say("@alice this everyone line names you")
    screen = activity(alice, "[1:everyone(2 @1) 3:@bob(1 @1)]")     # the mention is marked apart
    assert "dev line one" in body(screen)
    assert "everyone line" not in body(screen) and "dm line" not in body(screen) and "bob is here" not in body(screen)

    alice.keys("M-1")                                       # Alt+1
    screen = showing(alice, 1, "everyone", "carol │ everyone line one", "this everyone line names you")
    assert "dev line" not in body(screen) and "dm line" not in body(screen)
    activity(alice, "[3:@bob(1 @1)]")                         # everyone's count cleared on showing it
    carol.say("/switch #dev")
    carol.wait_text("* talking in #dev")
    carol.say("dev line two")
    activity(alice, "[2:#dev(1) 3:@bob(1 @1)]")

    alice.keys("M-a")                                       # Alt+A: the hotlist's first, lines naming you first
    screen = showing(alice, 3, "@bob", "bob » dm line one")          # » : it rang the bell (a DM is for you)
    assert "everyone line" not in body(screen) and "dev line" not in body(screen)
    activity(alice, "[2:#dev(1)]")
    alice.keys("M-Left")                                    # Alt+Left: the buffer before
    screen = showing(alice, 2, "#dev", "dev line one", "dev line two")
    assert "everyone line" not in body(screen) and "dm line" not in body(screen)
    activity(alice, "")
    alice.keys("M-Right")
    showing(alice, 3, "@bob", "dm line one")
    alice.keys("M-Right")                                   # round the end
    showing(alice, 1, "everyone", "everyone line one")
    alice.keys("F6")
    showing(alice, 2, "#dev", "dev line two")
    alice.keys("C-p")
    showing(alice, 1, "everyone", "everyone line one")
    alice.type("/switch @bob")
    alice.keys("Enter")
    showing(alice, 3, "@bob", "dm line one")
    alice.type("answered in its own buffer")
    alice.keys("Enter")
    assert bob.wait_text("answered in its own buffer").endswith("[@alice] alice: answered in its own buffer")
    showing(alice, 3, "@bob", "alice │ answered in its own buffer")


def test_names_have_stable_colours_and_your_own_name_and_mentions_stand_out(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob, carol = other("bob"), other("carol")
    bob.say("second line from bob")
    carol.say("hey @alice, look")
    alice.type("mine")
    alice.keys("Enter")
    alice.wait_text("alice │ mine")
    coloured = alice.lines(escapes=True)
    bob_first = name_style(coloured, "bob is here", "bob")
    assert name_style(coloured, "second line from bob", "bob") == bob_first     # the same colour each time
    assert name_style(coloured, "carol is here", "carol") != bob_first          # and not everyone's the same
    assert "\x1b[1m" in name_style(coloured, "mine", "alice")                    # your own name in bold
    assert "\x1b[43m" in name_style(coloured, "hey @alice, look", "carol")        # a line that names you: yellow


def test_resizing_redraws_the_whole_screen_without_leftovers(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob = other("bob")
    long_line = "a long line that has to wrap when the terminal is narrow, " * 2
    bob.say(long_line)
    alice.wait_text("a long line that has to wrap")
    alice.type("half typed")
    prompt = "everyone> half typed"
    pieces: dict[int, list[str]] = {}
    for width, height in [(60, 15), (120, 30), (40, 12), (WIDTH, HEIGHT)]:
        alice.resize_window(width, height)
        screen = alice.wait_for(lambda lines, width=width, height=height:
                                alice.size() == (width, height) and len(lines) == height
                                and lines[-1] == prompt and status(lines).startswith(" [alice] 1:everyone")
                                and title(lines).startswith(" 1:everyone ")
                                and " ".join(message_rows(lines, "a long line")) == long_line.strip())
        assert all(len(row) <= width for row in screen)
        pieces[width] = message_rows(screen, "a long line")                 # re-wrapped for the new width
    assert len(pieces[40]) > len(pieces[60]) > len(pieces[120])
    alice.wait_for(lambda lines: alice.cursor() == (len(prompt), HEIGHT - 1))          # at the end of the input
    alice.split()                                           # a second pane: now resize-pane changes ours
    for height in (10, 18):
        alice.resize_pane(height)
        alice.wait_for(lambda lines, height=height:
                       alice.size() == (WIDTH, height) and len(lines) == height and lines[-1] == prompt
                       and status(lines).startswith(" [alice] 1:everyone") and title(lines).startswith(" 1:everyone ")
                       and " │ " in body(lines).splitlines()[-1])      # the buffer is drawn down to its last row
    everything = alice.history()                            # scrollback included
    assert everything.count(prompt) == 1, everything
    assert everything.count("[alice] 1:everyone") == 1, everything
    assert everything.count(" 1:everyone  everyone in the chat") == 1, everything


def message_rows(screen: list[str], start: str) -> list[str]:
    """The text of the message starting with ``start``, one piece per screen row it was wrapped to."""
    rows = body(screen).splitlines()
    first = next((k for k, row in enumerate(rows) if start in row and " │ " in row), None)
    if first is None:
        return []
    out = [rows[first].split(" │ ", 1)[1]]
    for row in rows[first + 1:]:
        if not re.match(r"^ +│ ", row):
            break
        out.append(row.split("│ ", 1)[1])
    return out


def test_page_up_and_down_scroll_each_buffer_on_its_own(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob = other("bob")
    for k in range(1, 41):
        bob.say(f"/msg alice scroll line {k:02}")
    activity(alice, "[2:@bob(40 @40)]")
    alice.keys("M-2")
    screen = showing(alice, 2, "@bob", "scroll line 40")
    assert "scroll line 01" not in body(screen) and "-MORE" not in status(screen)
    alice.keys("PPage")
    screen = alice.wait_for(lambda lines: "-MORE(" in status(lines))
    assert "scroll line 40" not in body(screen)
    for _ in range(3):                                      # past the top: it stops there
        alice.keys("PPage")
    screen = alice.wait_for(lambda lines: body(lines).splitlines()[0].endswith("bob » scroll line 01"))
    more = int(re.search(r"-MORE\((\d+)\)-", status(screen)).group(1))
    bob.say("/msg alice arrives while scrolled up")
    screen = alice.wait_for(lambda lines: f"-MORE({more + 1})-" in status(lines))
    assert body(screen).splitlines()[0].endswith("scroll line 01")   # the view stays where it was
    assert "arrives while scrolled up" not in body(screen)
    alice.keys("M-1")
    showing(alice, 1, "everyone", "bob is here")
    alice.keys("M-2")                                       # the DM kept its own position
    screen = showing(alice, 2, "@bob", "scroll line 01")
    assert "-MORE(" in status(screen)
    for _ in range(6):
        alice.keys("NPage")
    screen = alice.wait_text("arrives while scrolled up")
    assert "-MORE" not in status(screen)


def test_history_fills_a_buffer_opened_with_little_in_it(terminal, other) -> None:
    bob = other("bob")
    for k in (1, 2, 3):
        bob.say(f"said before alice came {k}")
        bob.wait_text(f"said before alice came {k}")
    alice = terminal("alice")
    live(alice, "alice")
    screen = alice.wait_text("said before alice came 3")
    for k in (1, 2, 3):
        assert body(screen).count(f"said before alice came {k}") == 1
    assert body(screen).index("came 1") < body(screen).index("came 2") < body(screen).index("came 3")
    assert "no history here yet" not in body(screen)


def test_the_connection_gets_one_line_per_change_and_its_state_lives_in_the_status_bar(terminal, broker) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    broker.kill()
    alice.wait_text("connection lost")
    # the retry interval doubles with each attempt: seeing 1 s proves several attempts were made
    screen = alice.wait_for(lambda lines: "[reconnecting in 1 s]" in status(lines) or
                            "[reconnecting in 2 s]" in status(lines), timeout=20)
    assert body(screen).count("connection lost") == 1 and "retry" not in body(screen)
    broker.restart_on_same_port()
    screen = alice.wait_for(lambda lines: "reconnected" in body(lines) and "[live]" in status(lines), timeout=30)
    text = body(screen)
    assert text.count("connection lost") == 1 and text.count("reconnected") == 1, text
    assert "catching up" not in text and text.count("connecting to") == 1


def test_joins_can_be_hidden_with_an_option_and_shown_with_alt_j(terminal, other) -> None:
    alice = terminal("alice", "--hide-joins")
    alice.wait_for(lambda lines: "[joins hidden]" in status(lines) and "[live]" in status(lines))
    other("bob")
    screen = alice.wait_text("bob │ bob is here")
    assert "bob joined" not in body(screen)
    alice.keys("M-j")
    screen = alice.wait_text("bob joined")
    assert "[joins hidden]" not in status(screen)


def test_incoming_lines_never_disturb_the_line_being_typed(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob = other("bob")
    for ch in "half typ":
        alice.type(ch)
    for k in range(1, 9):                                   # lines arrive while alice types, key by key
        bob.say(f"incoming {k}")
        alice.type("ed line "[k - 1])
    typed = "everyone> half typed line"
    # the last key typed is a space, which tmux does not show: the cursor after it proves it arrived
    screen = alice.wait_for(lambda lines: "bob │ incoming 8" in body(lines) and lines[-1] == typed
                            and alice.cursor() == (len(typed + " "), HEIGHT - 1))
    assert [row.split("│ ")[1] for row in body(screen).splitlines() if "incoming" in row] == [
        f"incoming {k}" for k in range(1, 9)]
    alice.type("plus the end")
    alice.keys("Enter")
    assert bob.wait_text("plus the end").endswith("[everyone] alice: half typed line plus the end")
    alice.wait_for(lambda lines: lines[-1] == "everyone>" and "alice │ half typed line plus the end" in body(lines))


def test_tab_completes_commands_and_names(terminal, other) -> None:
    alice = terminal("alice")
    live(alice, "alice")
    bob = other("bob")
    alice.wait_text("bob is here")
    alice.type("/he")
    alice.keys("Tab")
    alice.wait_for(lambda lines: lines[-1] == "everyone> /help")
    alice.keys("Enter")
    alice.wait_text("send /TEXT as a line")
    alice.type("/ms")
    alice.keys("Tab")
    alice.wait_for(lambda lines: lines[-1] == "everyone> /msg")         # typing on at once would cancel it
    alice.type("bo")
    alice.keys("Tab")
    alice.wait_for(lambda lines: lines[-1] == "everyone> /msg bob")
    alice.type("completed dm")
    alice.keys("Enter")
    assert bob.wait_text("completed dm").endswith("[@alice] alice: completed dm")
    alice.type("/switch @b")
    alice.keys("Tab")
    alice.wait_for(lambda lines: lines[-1] == "everyone> /switch @bob")
    alice.keys("Enter")
    showing(alice, 2, "@bob", "alice │ completed dm")
    alice.wait_for(lambda lines: lines[-1] == "@bob>")
    alice.keys("M-w")                     # Alt+W: the core's "/close @bob" (on branch core, not on main yet)
    alice.wait_for(lambda lines: title(lines).startswith(" 1:everyone ")
                   or "unknown command /close; /help lists the commands" in body(lines))
    alice.keys("M-1")
    showing(alice, 1, "everyone")
    alice.keys("M-w")
    alice.wait_text("Alt+W closes a direct-message buffer; /leave GROUP leaves a group")


def test_the_name_is_asked_and_ctrl_d_leaves_telling_the_others(terminal, other) -> None:
    carol = terminal(None)
    carol.wait_for(lambda lines: lines[-1] == "your name:")
    carol.type("carol")
    carol.keys("Enter")
    live(carol, "carol")
    bob = other("bob")
    carol.wait_text("bob is here")
    carol.type("not this")
    carol.wait_for(lambda lines: lines[-1] == "everyone> not this")
    carol.keys("C-c")                                       # with text typed: clears it
    carol.wait_for(lambda lines: lines[-1] == "everyone>")
    n = len(bob.lines)
    carol.keys("C-d")
    bob.wait_line(lambda line: line.endswith("* carol left"), start=n)
    assert carol.exit_status() == 0
    assert "* left" in carol.history()          # said on the terminal's own screen, after the full-screen one


def typed(t: Tmux, line: str) -> None:
    t.type(line)
    t.keys("Enter")


def link_code(t: Tmux) -> str:
    """Ask for a link code with /device link and read it off the screen."""
    typed(t, "/device link")
    screen = t.wait_text("(valid 10 minutes)")
    found = re.search(r"link code: (\S+) \(valid 10 minutes\)", body(screen))
    assert found, body(screen)
    assert f"on the new device run: python -m zchat --name alice --link {found.group(1)}" in body(screen)
    return found.group(1)


def devices_listed(t: Tmux, count: int) -> dict[str, str]:
    """Type /devices and wait for the whole table: each device's name -> its row."""
    typed(t, "/devices")
    header = f"your devices ({count}):"

    def table(lines: list[str]) -> list[str]:
        rows = body(lines).rpartition(header)[2].splitlines()[1:]
        return [row for row in rows if "│     " in row][1:]         # under the NAME CREATED LAST SEEN row

    screen = t.wait_for(lambda lines: header in body(lines) and len(table(lines)) == count)
    return {row.split("│ ", 1)[1].split()[0]: row for row in table(screen)}


def test_a_second_device_links_with_a_code_from_the_first_and_both_are_alice_until_revoked(terminal, other) -> None:
    first = terminal("alice", config="alice-laptop")
    live(first, "alice")
    code = link_code(first)
    second = terminal(None, "--link", code, config="alice-phone")      # no --name: the name is asked
    second.wait_for(lambda lines: lines[-1] == "your name:")
    typed(second, "alice")
    live(second, "alice")
    bob = other("bob")
    for t in (first, second):
        showing(t, 1, "everyone", "bob │ bob is here")

    bob.say("/msg alice for alice, wherever she is")
    for t in (first, second):                               # both devices get the DM, unread
        activity(t, "[2:@bob(1 @1)]")
    second.keys("M-2")
    screen = showing(second, 2, "@bob", "bob » for alice, wherever she is")
    assert body(screen).count("for alice, wherever she is") == 1
    activity(first, "")                                     # read on the phone: read on the laptop
    first.keys("M-2")
    screen = showing(first, 2, "@bob", "bob » for alice, wherever she is")
    assert body(screen).count("for alice, wherever she is") == 1

    typed(second, "typed on the phone")
    screen = showing(first, 2, "@bob", "alice │ typed on the phone")
    assert body(screen).count("typed on the phone") == 1
    typed(first, "typed on the laptop")
    showing(first, 2, "@bob", "alice │ typed on the laptop")
    coloured = first.lines(escapes=True)                    # the phone's line is drawn as the laptop's own
    own = name_style(coloured, "typed on the laptop", "alice")
    assert name_style(coloured, "typed on the phone", "alice") == own != name_style(coloured, "wherever she is", "bob")
    assert "\x1b[1m" in own
    bob.wait_line(lambda line: line.endswith("[@alice] alice: typed on the phone"))

    for t, this in ((first, "device-1"), (second, "device-2")):
        rows = devices_listed(t, 2)
        assert set(rows) == {"device-1", "device-2"}, rows
        assert all(row.endswith("online now  (this device)") == (name == this) for name, row in rows.items()), rows
        assert all(row.endswith(("online now", "online now  (this device)")) for row in rows.values()), rows

    typed(first, "/device revoke device-2")
    first.wait_text("revoked the device device-2")
    assert second.exit_status() == 0
    assert "* this device (device-2) was revoked" in second.history()
    assert list(devices_listed(first, 1)) == ["device-1"]

    used = terminal(None, "--link", code, config="alice-tablet")           # the code worked once
    used.wait_for(lambda lines: lines[-1] == "your name:")
    typed(used, "alice")
    used.wait_text("! │ cannot join as alice: that link code is wrong, used or expired")
    used.wait_for(lambda lines: lines[-1] == "your name:" and status(lines).endswith("[offline]"))   # asked again
    used.keys("C-d")
    assert used.exit_status() == 0


def test_a_malformed_link_code_is_one_error_line_before_anything_is_asked(terminal) -> None:
    t = terminal(None, "--link", "nope", config="alice-watch")
    assert t.exit_status() == 2
    assert "zchat: error: 'nope' is not a link code: 12 letters and digits, as XXXX-XXXX-XXXX" in t.history()
