"""The terminal client in plain line mode (stdin and stdout are pipes), end to end against a real
broker, plus in-process: its formatting, completion, and the full-screen client's buffers,
activity list, connection lines and rendering (no terminal needed).

Each user is ``python -m zchat --ui cli`` as a subprocess; a reader thread collects its output
and every wait is bounded by a deadline on that output.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess
from zchat import events as ev
from zchat.frontends.cli_buffers import Buffer, Line, LineKind, hotlist_text
from zchat.frontends.cli_model import HISTORY_FILL, ChatModel
from zchat.frontends.cli_view import MISSED_HEADER, View, clean
from zchat.frontends.text import mentions, nick_colour, typing_text, valid_for


class User:
    """One CLI process driven through pipes."""

    def __init__(self, broker: BrokerProcess, config_dir: Path, name: str | None, *extra: str) -> None:
        args = [sys.executable, "-m", "zchat", "--ui", "cli", "--server", broker.connect,
                "--config-dir", str(config_dir), *extra]
        if name is not None:
            args += ["--name", name]
        self.name = name
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env={**os.environ, "ZCHAT_DISABLE_PLUGIN_AUTOLOAD": "1"})
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._read, args=(self.p.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.p.stderr, self.errors), daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            with self._cond:
                into.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def say(self, line: str) -> None:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def wait_line(self, pred: Callable[[str], bool], timeout: float = 10.0, start: int = 0) -> str:
        """The first output line from index ``start`` on that matches ``pred``, waiting for it (bounded)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if pred(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such line within {timeout} s; output was:\n"
                                         + "\n".join(self.lines) + "\nstderr:\n" + "\n".join(self.errors))
                self._cond.wait(left)

    def wait_text(self, text: str, **kw) -> str:
        return self.wait_line(lambda line: text in line, **kw)

    def wait_exit(self, timeout: float = 10.0) -> int:
        rc = self.p.wait(timeout)
        for t in self._threads:
            t.join(5)
        return rc

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(10)
        for s in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                s.close()
            except OSError:
                pass

    def everything(self) -> str:
        return "\n".join(self.lines + self.errors)


@pytest.fixture
def users(broker: BrokerProcess, tmp_path: Path) -> Iterator[Callable[..., User]]:
    made: list[User] = []

    def start(name: str | None, config: str | None = None, *extra: str) -> User:
        u = User(broker, tmp_path / f"cfg-{config or name}", name, *extra)
        made.append(u)
        return u

    yield start
    for u in made:
        u.stop()
    for u in made:
        assert "Traceback" not in u.everything(), u.everything()


def joined(u: User) -> None:
    """Joined, and receiving: "live" can come before the subscriptions work (presence sent in that
    gap is not seen), but our own line comes back only through them."""
    u.wait_text(f"* joined as {u.name}")
    u.wait_line(lambda line: line == "* live")
    u.say(f"{u.name} is here")
    u.wait_line(lambda line: line.endswith(f"] {u.name}: {u.name} is here"))


def test_two_users_talk_everyone_dm_group_and_exit(users) -> None:
    alice = users("alice")
    joined(alice)
    bob = users("bob")                  # after alice receives, so she sees bob join
    joined(bob)
    alice.wait_text("* bob joined")

    alice.say("hello everyone")
    line = bob.wait_text("hello everyone")
    assert line.endswith("[everyone] alice: hello everyone"), line
    assert line[:2].isdigit() and line[2] == ":" and line[5] == " "       # HH:MM first

    alice.say("/msg bob just for you")
    assert bob.wait_text("just for you").endswith("[@alice] alice: just for you")
    assert alice.wait_text("just for you").endswith("[@bob] alice: just for you")

    alice.say("/create team")
    alice.wait_text("* talking in #team")
    bob.say("/join team")
    bob.wait_text("* talking in #team")
    alice.wait_line(lambda line: line.endswith("[#team] * bob joined"))
    bob.say("hi team")
    assert alice.wait_text("hi team").endswith("[#team] bob: hi team")
    alice.say("/nosuchthing")
    error = alice.wait_line(lambda line: line.startswith("!"))
    assert error == "! unknown command /nosuchthing; /help lists the commands"
    alice.say("/groups")
    alice.wait_text("#team: 2 members, joined")

    n = len(alice.lines)
    bob.say("[EXIT]")
    assert bob.wait_exit() == 0
    assert bob.lines[-1] == "* left"
    alice.wait_line(lambda line: "bob" in line and "left" in line, start=n)


def test_missed_messages_arrive_once_marked(users) -> None:
    alice, bob = users("alice"), users("bob")
    joined(alice)
    joined(bob)
    bob.say("[EXIT]")
    assert bob.wait_exit() == 0
    alice.wait_text("* bob left")
    for k in (1, 2, 3):
        alice.say(f"gone-{k}")
    for k in (1, 2, 3):
        alice.wait_text(f"gone-{k}")

    back = users("bob")                 # same name, same config dir: same key
    last = back.wait_text("gone-3")
    back.wait_line(lambda line: line == "* live")
    back.say("/who")                    # a round trip: anything still coming has come by its answer
    back.wait_text("* users in everyone")
    got = [line for line in back.lines if "gone-" in line]
    assert len(got) == 3 and all(line.startswith("(missed) ") for line in got), got
    assert [line.rsplit(" ", 1)[1] for line in got] == ["gone-1", "gone-2", "gone-3"]
    assert back.lines.count(MISSED_HEADER) == 1
    assert back.lines.index(MISSED_HEADER) < back.lines.index(got[0])
    assert last == got[-1]


def test_stdin_eof_leaves_cleanly(users) -> None:
    alice, bob = users("alice"), users("bob")
    joined(alice)
    joined(bob)
    n = len(alice.lines)
    bob.p.stdin.close()
    assert bob.wait_exit() == 0
    assert bob.lines[-1] == "* left"
    alice.wait_line(lambda line: line.endswith("* bob left"), start=n)


def test_lines_before_eof_are_sent_even_if_input_ends_at_once(broker: BrokerProcess, users, tmp_path: Path) -> None:
    alice = users("alice")
    joined(alice)
    r = subprocess.run([sys.executable, "-m", "zchat", "--ui", "cli", "--name", "bot", "--server", broker.connect,
                        "--config-dir", str(tmp_path / "cfg-bot")], input="scripted hello\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "* left"
    assert alice.wait_text("scripted hello").endswith("[everyone] bot: scripted hello")


def test_name_from_stdin_and_a_refused_name_asks_again(users) -> None:
    u = users(None, "carol")
    u.say("not a valid name!")
    assert u.wait_line(lambda line: line.startswith("! cannot join as not a valid name!:"))
    u.name = "carol"
    u.say("carol")
    joined(u)
    u.p.stdin.close()
    assert u.wait_exit() == 0


def test_refused_name_given_with_option_exits_1(users) -> None:
    u = users("bad name!", "bad")
    assert u.wait_exit() == 1
    assert any(line.startswith("! cannot join as bad name!:") for line in u.lines), u.lines


def test_taken_name_with_another_key_is_refused(users) -> None:
    first = users("dora")
    joined(first)
    other = users("dora", "dora-other-key")
    assert other.wait_exit() == 1
    assert any(line.startswith("! cannot join as dora:") for line in other.lines), other.lines


def test_bad_server_is_one_error_line(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "zchat", "--ui", "cli", "--name", "x", "--server", "nonsense",
                        "--config-dir", str(tmp_path)], input="", capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.startswith("zchat:") and r.stderr.count("\n") == 1 and "error" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_second_device_joins_with_the_printed_command_and_is_signed_out_when_revoked(users, broker) -> None:
    laptop = users("alice", "alice-laptop")
    joined(laptop)
    laptop.say("/device link")
    code = re.fullmatch(r"\* link code: (\S+) \(valid 10 minutes\)", laptop.wait_text("* link code:")).group(1)
    command = laptop.wait_text("on the new device run: ").split("run: ", 1)[1]
    server = laptop.wait_text("with this device's server: ").split("server: ", 1)[1]
    assert shlex.split(f"{command} {server}") == ["python", "-m", "zchat", "--name", "alice", "--link", code,
                                                  "--server", broker.connect]
    phone = users("alice", "alice-phone", "--link", code)             # what it says, with its own config dir
    joined(phone)
    bob = users("bob")
    joined(bob)
    bob.say("/msg alice for both of you")
    phone.say("/msg bob from the phone")
    laptop.wait_line(lambda line: line.endswith("[@bob] alice: from the phone"))    # the account's own line
    bob.wait_line(lambda line: line.endswith("[@alice] alice: from the phone"))
    for device in (laptop, phone):
        device.wait_text("for both of you")
        device.say("/devices")
        device.wait_text("* your devices (2):")
        rows = device.wait_line(lambda line: "(this device)" in line)
        assert rows.split()[:1] == ["device-1" if device is laptop else "device-2"], device.lines
    assert [sum("for both of you" in line for line in d.lines) for d in (laptop, phone)] == [1, 1]

    laptop.say("/device revoke device-2")
    laptop.wait_text("revoked the device device-2: it is signed out and can no longer read")
    assert phone.wait_exit() == 0
    assert phone.lines[-1] == "* this device (device-2) was revoked"

    used = users(None, "alice-tablet", "--link", code)                 # the name from stdin; the code is used up
    used.say("alice")
    used.wait_text("! cannot join as alice: that link code is wrong, used or expired: make a new one on a device of "
                   "the account")
    used.p.stdin.close()
    assert used.wait_exit() == 1
    for option, value, says in (("--link", "nope", "'nope' is not a link code: 12 letters and digits"),
                                ("--device", "not a name!", "invalid device name 'not a name!'")):
        u = users("alice", "alice" + option, option, value)            # the core's check, said as one line
        assert u.wait_exit() == 2
        assert len(u.errors) == 1 and u.errors[0].startswith(f"zchat: error: {says}") and not u.lines, u.everything()


def test_plain_mode_prints_mentions_with_the_bell_changes_reactions_and_search(users) -> None:
    alice = users("alice")
    joined(alice)
    bob = users("bob")
    joined(bob)
    bob.say("@alice are you there?")
    said = alice.wait_text("are you there")
    seq = int(re.search(r" #(\d+) \[everyone\] bob: @alice are you there\?$", said).group(1))
    assert alice.wait_text("mentioned you").endswith(f"! bob mentioned you in everyone (#{seq})")
    assert alice.wait_text("mentioned you").startswith("\a")                # the terminal's bell
    bob.wait_text(f"#{seq} [everyone] bob: @alice are you there?")       # /edit alone: his last line he has seen
    bob.say("/edit @alice are you there now?")
    alice.wait_line(lambda line: line.endswith(f"[everyone] * bob edited #{seq}: @alice are you there now?"))
    alice.say(f"/react {seq} 👍")
    bob.wait_line(lambda line: line.endswith(f"[everyone] * alice reacted 👍 to #{seq} (👍 1 (alice))"))
    alice.say("/me waves")
    bob.wait_line(lambda line: re.search(r" #\d+ \[everyone\] \* alice waves$", line) is not None)
    alice.say("/search there")
    alice.wait_text('* search "there": 1 line, newest first')
    alice.wait_line(lambda line: line.endswith(f"everyone #{seq} bob: @alice are you there now?"))


def test_closed_stdin_does_not_crash(broker: BrokerProcess, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "zchat", "--ui", "cli", "--name", "eve", "--server", broker.connect,
                        "--config-dir", str(tmp_path)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- formatting, in-process
def msg(**kw) -> ev.MessageReceived:
    base = dict(conv="all", title="everyone", seq=1, ts=time.mktime((2024, 5, 1, 9, 7, 0, 0, 0, -1)),
                sender="bob", text="hi")
    return ev.MessageReceived(**{**base, **kw})


def test_message_lines() -> None:
    v = View()
    assert v.apply(msg()) == ["09:07 #1 [everyone] bob: hi"]
    assert v.apply(msg(conv="dm:alice:bob", title="bob")) == ["09:07 #1 [@bob] bob: hi"]
    assert v.apply(msg(conv="g:team", title="team", kind="event", text="joined")) == ["09:07 #1 [#team] * bob joined"]
    assert v.apply(msg(history=True)) == ["(history) 09:07 #1 [everyone] bob: hi"]
    assert v.apply(msg(missed=True)) == [MISSED_HEADER, "(missed) 09:07 #1 [everyone] bob: hi"]
    assert v.apply(msg(missed=True, text="again")) == ["(missed) 09:07 #1 [everyone] bob: again"]
    assert v.apply(msg(text="two\nlines")) == ["09:07 #1 [everyone] bob: two\n    lines"]


def test_protocol_3_lines_in_plain_mode() -> None:
    """/me, a reply's quote, (edited), the tombstone, reactions, and the lines for what changed later."""
    v = View()
    assert v.apply(msg(seq=4, kind="me", text="waves")) == ["09:07 #4 [everyone] * bob waves"]
    long = "x" * 70
    got = v.apply(msg(seq=5, text="yes", reply_to=4, reply_sender="carol", reply_text=long, edited=True,
                      reactions=(("👍", ("alice", "dave")), ("🎉", ("carol",)))))
    assert got == [f"09:07 #5 [everyone] bob: [↳ carol: {'x' * 59}…] yes (edited)  [👍 2 (alice, dave)  🎉 1 (carol)]"]
    assert v.apply(msg(seq=6, text="", deleted=True, reactions=(("👍", ("a",)),))) == [
        "09:07 #6 [everyone] bob: message deleted"]
    changed = dict(conv="all", title="everyone", seq=5, sender="bob", text="yes!", kind="msg")
    assert v.apply(ev.MessageChanged(**changed, change="edit", by="bob", edited=True))[0].endswith(
        "[everyone] * bob edited #5: yes!")
    assert v.apply(ev.MessageChanged(**changed, change="delete", by="bob", deleted=True))[0].endswith(
        "* bob deleted #5")
    assert v.apply(ev.MessageChanged(**changed, change="react", by="carol", reactions=(("👍", ("bob", "carol")),))
                   )[0].endswith("* carol reacted 👍 to #5 (👍 2 (bob, carol))")
    assert v.apply(ev.MessageChanged(**changed, change="react", by="carol"))[0].endswith(
        "* carol took back a reaction to #5")
    bell = v.apply(ev.Notification(conv="g:dev", title="dev", seq=9, sender="bob", text="@alice hi", reason="mention"))
    assert bell[0].startswith("\a") and bell[0].endswith("! bob mentioned you in #dev (#9)")
    assert v.apply(ev.Notification(conv="dm:alice:bob", title="bob", seq=2, sender="bob", text="x", reason="dm",
                                   missed=True, count=3))[0].endswith("! 3 lines for you in @bob while you were away")
    assert v.apply(ev.Typing(conv="all", name="bob", active=True))[0].endswith("[everyone] * bob is typing…")
    assert v.apply(ev.Typing(conv="all", name="bob", active=False)) == []
    seen = v.apply(ev.ReadBy(conv="g:dev", seq=7, names=("carol", "dave")))
    assert seen[0].endswith("[#dev] * #7 seen by carol, dave")
    assert v.apply(ev.ReadBy(conv="g:dev", seq=7, names=())) == []
    assert v.apply(ev.StatusChanged(state="away", text="lunch")) == ["* you are away: lunch"]
    assert v.apply(ev.StatusChanged(state="away", idle=True)) == ["* you are away (idle)"]
    assert v.apply(ev.StatusChanged(state="dnd")) == ["* you are on do not disturb"]
    for state, reason, status, words in [("away", "set", "lunch", "bob is away: lunch"),
                                         ("away", "idle", "", "bob is away (idle)"),
                                         ("dnd", "set", "", "bob is on do not disturb"),
                                         ("online", "set", "", "bob is online again"),
                                         ("lost", "lost", "", "bob lost connection"),
                                         ("offline", "left", "", "bob left")]:
        assert v.apply(ev.PresenceChanged(name="bob", state=state, reason=reason, status=status))[0].endswith(words)
    hit = ev.SearchHit(conv="g:dev", title="dev", seq=14, ts=msg().ts, sender="bob", text="lunch at 12?")
    assert v.apply(ev.SearchResults(query="lunch", results=(hit,), cursor=14)) == [
        '* search "lunch": 1 line, newest first (more: /search)', "    09:07 #dev #14 bob: lunch at 12?"]
    who = ev.UsersListed(conv="g:dev", title="dev", users=(("bob", "away"), ("carol", "dnd")), total=2,
                         details=(("bob", "away", "lunch", "owner"), ("carol", "dnd", "", "")))
    assert v.apply(who) == ["* users in #dev: 2", "    bob (away: lunch) owner", "    carol (do not disturb)"]
    groups = ev.GroupsListed(groups=(("dev", False, 2, True),), topics=(("dev", "ship it"),))
    assert v.apply(groups) == ["* groups (1):", "    #dev: 2 members, joined; topic: ship it"]


def test_terminal_escapes_are_removed() -> None:
    assert clean("a\x1b[2Jb\x07c\x9bd") == "a[2Jbcd"


def test_other_events() -> None:
    v = View()
    assert v.apply(ev.ConnectionChanged(state="connecting", detail="tcp://h:1")) == ["* connecting to tcp://h:1"]
    assert v.apply(ev.ConnectionChanged(state="connected")) == []
    conv = ev.Conversation(conv="all", kind="everyone", title="everyone")
    assert v.apply(ev.Joined(name="alice", resumed=True, conversations=(conv,))) == ["* joined as alice (resumed)"]
    assert v.apply(ev.JoinFailed(name="x", code="name_taken", message="taken")) == ["! cannot join as x: taken"]
    assert v.apply(ev.CommandFailed(code="usage", message="usage: /msg NAME TEXT")) == ["! usage: /msg NAME TEXT"]
    assert v.apply(ev.Info(text="a\nb")) == ["a", "b"]
    assert v.apply(ev.ConnectionChanged(state="reconnecting", retry_in=0.25, detail="gone")) == [
        "* connection lost (gone); reconnecting in 0.25 s"]
    assert v.state == "reconnecting in 0.25 s"
    assert v.apply(ev.ConnectionChanged(state="catching_up", behind=12)) == ["* catching up: 12 behind"]
    assert v.status() == "everyone | catching up: 12 behind | no unread"
    assert v.apply(ev.ConnectionChanged(state="live")) == ["* live"]
    assert v.apply(ev.Invited(group="team", by="alice"))[0].endswith("* alice invited you to #team: /join team")
    for reason, text in [("joined", "joined"), ("left", "left"), ("lost", "lost connection"), ("back", "is back"),
                         ("timed_out", "timed out")]:
        assert v.apply(ev.PresenceChanged(name="bob", state="x", reason=reason))[0].endswith(f"* bob {text}")
    assert v.apply(ev.GroupsListed(groups=(("team", True, 2, False),))) == [
        "* groups (1):", "    #team (private): 2 members"]
    assert v.apply(ev.UsersListed(conv="all", title="everyone", users=(("carl", "online"),), total=1)) == [
        "* users in everyone: 1", "    carl (online)"]
    team = ev.Conversation(conv="g:team", kind="group", title="team", unread=3, mentions=1)
    assert v.apply(ev.ConversationsChanged(conversations=(conv, team), current="all")) == []
    assert v.status() == "everyone | live | unread: #team 3 @1"
    assert v.apply(ev.ConversationsChanged(conversations=(conv, team), current="g:team")) == ["* talking in #team"]
    assert v.current_label() == "#team"
    assert v.users == {"bob", "carl"} and v.groups == {"team"}
    assert v.apply(ev.Left(reason="left")) == ["* left"]


README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_a_link_code_shows_its_minutes_and_the_command_for_the_new_device() -> None:
    v = View("tcp://h:1#key=ab")
    v.apply(ev.Joined(name="alice", resumed=False, conversations=(EVERYONE,)))
    assert v.apply(ev.LinkCodeMade(code="7Q2M-9KXD-4TRA", expires=time.time() + 600)) == [
        "* link code: 7Q2M-9KXD-4TRA (valid 10 minutes)",
        "    on the new device run: python -m zchat --name alice --link 7Q2M-9KXD-4TRA",
        "    with this device's server: --server 'tcp://h:1#key=ab'",       # quoted: '#' would start a comment
        "    the code adds one device to your account: keep it secret"]
    assert [valid_for(1000 + left, now=1000) for left in (629, 571, 150, 89, 20, 0, -5)] == [
        "valid 10 minutes", "valid 10 minutes", "valid 2 minutes", "valid 1 minute", "valid 1 minute", "expired",
        "expired"]
    local = View()                                                     # the local default broker: no --server
    local.apply(ev.Joined(name="alice", resumed=False, conversations=(EVERYONE,)))
    shown = local.apply(ev.LinkCodeMade(code="7Q2M-9KXD-4TRA", expires=time.time() + 600))
    assert "\n".join(shown) in README                                   # what the README shows is what it says
    assert not [line for line in shown if "server" in line]


def test_devices_are_a_table_with_this_device_marked_and_a_revocation_says_why() -> None:
    v = View()
    t0 = time.mktime((2026, 11, 30, 7, 5, 0, 0, 0, -1))
    listed = ev.DevicesListed(devices=(
        ev.Device(name="device-1", created=t0, last_seen=t0 + 60, online=False),
        ev.Device(name="phone", created=t0 + 120, last_seen=time.time(), online=True, current=True)))
    assert v.apply(listed) == [
        "* your devices (2):",
        "    NAME      CREATED           LAST SEEN",
        "    device-1  2026-11-30 07:05  2026-11-30 07:06",
        "    phone     2026-11-30 07:07  online now        (this device)"]
    assert v.devices == {"device-1"}                                   # what /device revoke completes
    t1 = time.mktime((2026, 11, 30, 9, 12, 0, 0, 0, -1))
    assert "\n".join(v.apply(ev.DevicesListed(devices=(                 # the README's example
        ev.Device(name="device-1", created=t0, last_seen=time.time(), online=True, current=True),
        ev.Device(name="device-2", created=t0 + 120, last_seen=t1, online=False))))) in README
    v.state = "connected"
    assert v.apply(ev.JoinFailed(name="alice", code="link_invalid", message="that link code is wrong, used or "
                                 "expired: make a new one on a device of the account")) == [
        "! cannot join as alice: that link code is wrong, used or expired: make a new one on a device of the account"]
    assert v.state == "offline"
    assert v.apply(ev.Left(reason="this device (phone) was revoked")) == ["* this device (phone) was revoked"]
    m = ChatModel()                                                    # the full-screen client: the same words
    m.apply(ev.Joined(name="alice", resumed=False, conversations=(EVERYONE,)))
    m.apply(ev.LinkCodeMade(code="7Q2M-9KXD-4TRA", expires=time.time() + 600))
    m.apply(listed)
    m.apply(ev.Left(reason="this device (phone) was revoked"))
    lines = m.buffers.shown.lines[1:]
    assert [line.text for line in lines] == [
        "link code: 7Q2M-9KXD-4TRA (valid 10 minutes)",
        "    on the new device run: python -m zchat --name alice --link 7Q2M-9KXD-4TRA",
        "    the code adds one device to your account: keep it secret", "your devices (2):", *v.apply(listed)[1:],
        "this device (phone) was revoked"]
    assert [line.mention for line in lines[:2]] == [True, False]       # the code stands out
    assert m.left == "this device (phone) was revoked"


def test_completion() -> None:
    pytest.importorskip("prompt_toolkit")
    from prompt_toolkit.document import Document

    from zchat.frontends.cli_complete import ChatCompleter

    v = View()
    v.users.update({"bob", "Bella"})
    v.groups.add("team")
    c = ChatCompleter(v)

    def complete(text: str) -> list[str]:
        return [x.text for x in c.get_completions(Document(text), None)]

    assert complete("/he") == ["/help "]
    assert "/msg " in complete("/m")
    assert complete("/msg b") == ["Bella ", "bob "]
    assert complete("/join t") == ["team "]
    assert complete("/invite bob t") == ["team "]
    assert complete("/kick B") == ["Bella ", "bob "] and complete("/ban bob t") == ["team "]   # moderation
    assert complete("/owner b") == ["Bella ", "bob "] and complete("/unban bob ") == ["team "]
    assert complete("/switch #") == ["#team "]
    assert complete("/close @") == ["@Bella ", "@bob "]
    assert complete("hello @bo") == ["@bob "]
    assert complete("hello") == []
    v.devices.update({"phone", "Tablet"})                               # as /devices listed them
    assert complete("/device ") == ["link ", "revoke "] and complete("/device r") == ["revoke "]
    assert complete("/device revoke ") == ["phone ", "Tablet "] and complete("/device link ") == []


# ---------------------------------------------------------------- the full-screen client's model, in-process
EVERYONE = ev.Conversation(conv="all", kind=ev.ConvKind.EVERYONE, title="everyone")
DEV = ev.Conversation(conv="g:dev", kind=ev.ConvKind.GROUP, title="dev")
BOB = ev.Conversation(conv="dm:alice:bob", kind=ev.ConvKind.DM, title="bob")
C = ev.ConnState


def three_buffers(current: str = "all") -> ChatModel:
    m = ChatModel()
    m.apply(ev.Joined(name="alice", resumed=False, conversations=(EVERYONE, DEV)))
    m.apply(ev.ConversationsChanged(conversations=(EVERYONE, DEV, BOB), current=current))
    return m


def texts(buf: Buffer) -> list[str]:
    return [line.text for line in buf.lines]


def listed(current: str = "all", **unread: int | tuple[int, int]) -> ev.ConversationsChanged:
    """The core's conversation list (everyone, #dev, @bob) with its unread counts: ``listed(dev=3)``, or
    unread lines and those for you: ``listed(bob=(1, 1))``."""
    convs = {"everyone": EVERYONE, "dev": DEV, "bob": BOB}
    counts = {k: v if isinstance(v, tuple) else (v, 0) for k, v in unread.items()}
    return ev.ConversationsChanged(conversations=tuple(replace(c, unread=counts.get(k, (0, 0))[0],
                                                               mentions=counts.get(k, (0, 0))[1])
                                                       for k, c in convs.items()), current=current)


def test_the_activity_list_shows_the_cores_unread_and_mention_counts_and_marks_lines_for_you() -> None:
    m = three_buffers()
    m.apply(msg(seq=1, text="on screen"))
    for seq, (text, names) in enumerate((("hidden", ()), ("hey @Alice, look", ("alice",)),
                                         ("alicebot is someone else", ())), start=1):
        m.apply(listed(dev=(seq, 1 if seq > 1 else 0)))    # the core counts a line, then sends it
        m.apply(msg(conv="g:dev", title="dev", seq=seq, text=text, mentions=names, mention=bool(names)))
    m.apply(msg(conv="g:dev", title="dev", seq=4, sender="alice", own=True, text="mine"))
    m.apply(msg(conv="g:dev", title="dev", seq=5, kind="event", text="joined"))
    m.apply(msg(conv="g:dev", title="dev", seq=1, text="hidden", history=True))       # the same seq again
    m.apply(listed(dev=(3, 1), bob=(1, 1)))
    m.apply(msg(conv="dm:alice:bob", title="bob", seq=1, text="psst", mention=True))  # a DM is for you
    m.apply(ev.PresenceChanged(name="carol", state="online", reason="joined"))
    assert hotlist_text(m.buffers.hotlist()) == "[2:#dev(3 @1) 3:@bob(1 @1)]"
    dev = m.buffers.by_conv["g:dev"]
    assert texts(dev).count("hidden") == 1
    assert [line.mention for line in dev.lines if line.seq in (1, 2, 3)] == [False, True, False]
    assert not m.buffers.by_conv["dm:alice:bob"].lines[-1].mention    # counted, but not every DM line is yellow
    assert m.buffers.hottest() == "g:dev"
    m.apply(listed("g:dev", bob=(1, 1)))               # shown here
    assert hotlist_text(m.buffers.hotlist()) == "[3:@bob(1 @1)]"
    m.apply(listed("g:dev", everyone=1, bob=(1, 1)))
    m.apply(msg(seq=2, text="while you look elsewhere"))
    m.apply(msg(conv="g:dev", title="dev", seq=6, text="on screen now"))
    assert hotlist_text(m.buffers.hotlist()) == "[1:everyone(1) 3:@bob(1 @1)]"
    assert m.buffers.hottest() == "dm:alice:bob"
    m.apply(listed("g:dev", everyone=1))              # @bob was read on another device of alice's
    assert hotlist_text(m.buffers.hotlist()) == "[1:everyone(1)]"
    m.apply(msg(conv="dm:alice:bob", title="bob", seq=2, text="read elsewhere already"))   # the core did not count it
    assert hotlist_text(m.buffers.hotlist()) == "[1:everyone(1)]"
    m.apply(ev.ConversationsChanged(conversations=(EVERYONE, replace(BOB, unread=2, mentions=2)), current="all"))
    assert m.buffers.order == ["all", "dm:alice:bob"] and hotlist_text(m.buffers.hotlist()) == "[2:@bob(2 @2)]"
    assert (m.buffers.at(2), m.buffers.at(3), m.buffers.neighbour(1), m.buffers.neighbour(-1)) == (
        "dm:alice:bob", None, "dm:alice:bob", "dm:alice:bob")


def test_a_buffer_keeps_seq_order_each_seq_once_with_history_above_this_runs_lines() -> None:
    b = Buffer("all", ev.ConvKind.EVERYONE, "everyone")
    b.add(Line(LineKind.INFO, "joined as alice"))
    assert b.add(Line(LineKind.MSG, "seven", sender="bob", seq=7, missed=True))
    assert b.add(Line(LineKind.MSG, "eight", sender="bob", seq=8, missed=True))
    assert b.add(Line(LineKind.MSG, "nine", sender="bob", seq=9))
    for seq in (5, 6, 7):
        b.add(Line(LineKind.MSG, f"history {seq}", sender="bob", seq=seq, history=True))
    assert texts(b) == ["history 5", "history 6", "joined as alice", "messages you missed while away",
                        "seven", "eight", "nine"]
    assert [line.kind for line in b.lines].count(LineKind.MARKER) == 1 and b.messages() == 5


def test_scrolling_moves_by_screen_rows_stops_at_the_top_and_follows_again_at_the_bottom() -> None:
    b = Buffer("all", ev.ConvKind.EVERYONE, "everyone")
    for k in range(30):
        b.add(Line(LineKind.MSG, f"line {k}", sender="bob", seq=k + 1))
    one_row = lambda line: 1                                           # noqa: E731
    b.scroll(-8, 10, one_row)
    assert (b.anchor, b.below(lambda line: True)) == (21, 8)
    b.scroll(-100, 10, one_row)                                        # the first line at the top, no further
    assert b.anchor == 9
    b.add(Line(LineKind.MSG, "arrives while scrolled up", sender="bob", seq=31))
    assert b.anchor == 9 and b.below(lambda line: True) == 21
    b.scroll(5, 10, lambda line: 2)                                    # two rows a line: three lines down
    assert b.anchor == 12
    b.scroll(100, 10, one_row)
    assert b.anchor is None and b.below(lambda line: True) == 0


def test_the_connection_makes_one_line_per_change_and_none_per_retry_or_catch_up() -> None:
    m = ChatModel()
    retry = ev.ConnectionChanged(state=C.RECONNECTING, retry_in=0.5, detail="no broker at tcp://h:1")
    lost = ev.ConnectionChanged(state=C.RECONNECTING, retry_in=0.25, detail="lost the link to the broker")
    joined = ev.Joined(name="alice", resumed=False, conversations=(EVERYONE,))
    for event in [ev.ConnectionChanged(state=C.CONNECTING, detail="tcp://h:1"), retry, retry, retry,
                  ev.ConnectionChanged(state=C.CONNECTED), joined, ev.ConnectionChanged(state=C.CATCHING_UP, behind=9),
                  ev.ConnectionChanged(state=C.CATCHING_UP, behind=2), ev.ConnectionChanged(state=C.LIVE),
                  lost, ev.ConnectionChanged(state=C.CONNECTING, detail="tcp://h:1"), retry, retry]:
        m.apply(event)
    assert m.view.state == "reconnecting in 0.5 s" and not m.live
    for event in [ev.ConnectionChanged(state=C.CONNECTED), joined, ev.ConnectionChanged(state=C.CATCHING_UP, behind=1),
                  ev.ConnectionChanged(state=C.LIVE), ev.ConnectionChanged(state=C.FAILED, detail="bad key")]:
        m.apply(event)
    assert texts(m.buffers.shown) == ["connecting to tcp://h:1", "no broker at tcp://h:1; retrying", "joined as alice",
                                      "connection lost (lost the link to the broker); reconnecting", "reconnected",
                                      "connection failed: bad key"]
    assert m.buffers.shown.lines[-1].kind == LineKind.ERROR


def test_history_is_asked_for_a_buffer_shown_with_little_in_it_once_when_live() -> None:
    m = three_buffers()
    assert m.wants_history() is None                                   # not live yet
    m.apply(ev.ConnectionChanged(state=C.LIVE))
    assert m.wants_history() == "all"
    assert m.wants_history() is None                                   # once
    for k in range(HISTORY_FILL):
        m.apply(msg(conv="g:dev", title="dev", seq=k + 2, text=f"{k}"))
    m.apply(msg(conv="dm:alice:bob", title="bob", seq=1, text="the first there is"))
    m.apply(ev.ConversationsChanged(conversations=(EVERYONE, DEV, BOB), current="g:dev"))
    assert m.wants_history() is None                                   # full enough
    m.apply(ev.ConversationsChanged(conversations=(EVERYONE, DEV, BOB), current="dm:alice:bob"))
    assert m.wants_history() is None                                   # it holds seq 1: nothing older
    m.apply(ev.ConnectionChanged(state=C.RECONNECTING, retry_in=0.25))
    m.apply(ev.ConversationsChanged(conversations=(EVERYONE, DEV, BOB, ev.Conversation(
        conv="g:ops", kind=ev.ConvKind.GROUP, title="ops")), current="g:ops"))
    assert m.wants_history() is None                                   # not while the link is down...
    m.apply(ev.ConnectionChanged(state=C.LIVE))
    assert m.wants_history() == "g:ops"                                # ...but once it is back


def test_notices_go_to_the_buffer_on_screen_and_presence_to_everyone_and_the_dm() -> None:
    m = three_buffers(current="g:dev")
    m.apply(ev.CommandFailed(code="usage", message="usage: /msg NAME TEXT"))
    m.apply(ev.UsersListed(conv="g:dev", title="dev", users=(("bob", "online"),), total=1))
    m.apply(ev.PresenceChanged(name="Bob", state="lost", reason="lost"))
    m.apply(ev.Invited(group="ops", by="carol"))
    dev, every, dm = (m.buffers.by_conv[c] for c in ("g:dev", "all", "dm:alice:bob"))
    assert texts(dev) == ["usage: /msg NAME TEXT", "users in #dev: 1", "    bob (online)",
                          "carol invited you to #ops: /join ops"]
    assert dev.lines[0].kind == LineKind.ERROR and dev.lines[-1].mention
    assert texts(every) == ["joined as alice", "Bob lost connection"] and texts(dm) == ["Bob lost connection"]
    assert every.lines[-1].arrow == "<--" and every.lines[-1].kind == LineKind.PRESENCE
    assert not m.buffers.hotlist()                                     # none of that is unread chat
    m.apply(ev.Left(reason="left"))
    assert m.left == "left"


def test_rows_wrap_under_the_text_column_within_the_width() -> None:
    from prompt_toolkit.utils import get_cwidth

    from zchat.frontends.cli_render import line_rows, wrap

    text = "word " * 30 + "unbreakable" * 8
    rows = ["".join(t for _, t in row) for row in line_rows(Line(LineKind.MSG, text, sender="bob", seq=1), 40, 5, "al")]
    assert rows[0].startswith("   bob │ word", 5) and all(get_cwidth(row) <= 40 for row in rows)
    assert all(row.startswith(" " * 12 + "│ ") for row in rows[1:])
    assert "".join(row.split("│ ", 1)[1] + " " for row in rows).replace(" ", "") == text.replace(" ", "")
    assert all(get_cwidth(row) <= 7 for row in wrap("你好" * 20 + "😀", 7, 7))
    assert wrap("two\nlines", 20, 20) == ["two", "lines"]


def test_names_get_stable_colours_and_your_name_and_mentions_stand_out() -> None:
    from zchat.frontends.cli_render import PALETTE, line_rows

    def name_style(line: Line) -> str:
        return line_rows(line, 80, 6, "alice")[0][2][0]      # time, seq column, name

    assert nick_colour("bob", PALETTE) == "#d7875f" == nick_colour("BOB", PALETTE)   # the same in every run
    assert len({nick_colour(n, PALETTE) for n in ("bob", "carol", "dave", "erin", "frank")}) > 2
    assert name_style(Line(LineKind.MSG, "x", sender="bob")).startswith("#d7875f")
    assert name_style(Line(LineKind.MSG, "x", sender="alice", own=True)) == "class:own"
    assert name_style(Line(LineKind.MSG, "hi alice", sender="bob", mention=True)) == "class:hl.nick"
    assert name_style(Line(LineKind.PRESENCE, "bob joined", arrow="-->")) == "class:dim"
    assert mentions("hi @Alice: look", "alice") and mentions("alice", "ALICE")
    assert not mentions("alicebot", "alice") and not mentions("mal-alice", "alice") and not mentions("x", None)


def test_a_line_draws_its_seq_quote_edit_tombstone_reactions_receipts_and_marks() -> None:
    from zchat.frontends.cli_render import line_rows

    def rows(line: Line, seen: tuple[str, ...] = ()) -> list[str]:
        return ["".join(t for _, t in row) for row in line_rows(line, 60, 5, "alice", 4, seen)]

    reply = Line(LineKind.MSG, "yes, at noon", ts=msg().ts, sender="bob", seq=12, quote="↳ carol: lunch?",
                 edited=True, reactions=(("👍", ("alice", "carol")),))
    assert rows(reply, ("carol", "dave")) == ["09:07 #12   bob │ ↳ carol: lunch?",
                                              " " * 16 + "│ yes, at noon (edited)",
                                              " " * 16 + "│ 👍 2 (alice, carol)",
                                              " " * 16 + "│ seen by carol, dave"]
    edited = line_rows(reply, 60, 5, "alice", 4)[1]
    assert edited[-1] == ("class:dim", " (edited)")                     # dimmed apart from the text
    gone = Line(LineKind.MSG, "", ts=msg().ts, sender="bob", seq=12, deleted=True, reactions=reply.reactions)
    assert rows(gone) == ["09:07 #12   bob │ message deleted"]
    assert rows(Line(LineKind.ACTION, "waves", ts=msg().ts, sender="bob", seq=3)) == ["09:07  #3     * │ bob waves"]
    rang = line_rows(Line(LineKind.MSG, "@alice hi", ts=msg().ts, sender="bob", seq=9, mention=True, notified=True),
                     60, 5, "alice", 4)[0]
    assert ("class:hl.text", " » ") in rang and rang[2][0] == "class:hl.nick"    # the bell's mark and the highlight
    found = line_rows(Line(LineKind.MSG, "x", sender="bob", seq=9, found=True), 60, 5, "alice", 4)[0]
    assert found[1] == ("class:found", "#9")                            # the search hit Alt+G showed
    assert rows(Line(LineKind.INFO, "note", ts=msg().ts))[0] == "09:07        -- │ note"


def test_the_model_redraws_changed_lines_and_follows_typing_receipts_status_and_search() -> None:
    m = three_buffers(current="g:dev")
    m.apply(msg(conv="g:dev", title="dev", seq=3, text="lunch?"))
    m.apply(msg(conv="g:dev", title="dev", seq=4, sender="alice", own=True, text="noon", reply_to=3,
                reply_sender="bob", reply_text="lunch?"))
    dev = m.buffers.by_conv["g:dev"]
    assert dev.line_at(4).quote == "↳ bob: lunch?"
    base = dict(conv="g:dev", title="dev", seq=3, sender="bob", kind="msg")
    m.apply(ev.MessageChanged(**base, text="lunch at 12?", change="edit", by="bob", edited=True))
    m.apply(ev.MessageChanged(**base, text="lunch at 12?", change="react", by="carol", edited=True,
                              reactions=(("👍", ("carol",)),)))
    assert (dev.line_at(3).text, dev.line_at(3).edited, dev.line_at(3).reactions) == (
        "lunch at 12?", True, (("👍", ("carol",)),))
    assert texts(dev)[-2:] == ["bob edited #3: lunch at 12?", "carol reacted 👍 to #3 (👍 1 (carol))"]
    m.apply(ev.MessageChanged(**base, text="", change="delete", by="bob", deleted=True))
    assert dev.line_at(3).deleted and texts(dev)[-1] == "bob deleted #3"
    m.apply(ev.Typing(conv="g:dev", name="carol", active=True))
    m.apply(ev.Typing(conv="g:dev", name="dave", active=True))
    assert list(dev.typing) == ["carol", "dave"] and typing_text(list(dev.typing)) == "carol and dave are typing…"
    assert typing_text(["a", "b", "c"]) == "3 people are typing…" and typing_text([]) == ""
    m.apply(ev.Typing(conv="g:dev", name="dave", active=False))
    m.apply(msg(conv="g:dev", title="dev", seq=5, sender="carol", text="here"))       # her line came
    assert not dev.typing
    m.apply(ev.ReadBy(conv="g:dev", seq=4, names=("carol",)))
    assert (dev.seen_seq, dev.seen_names) == (4, ("carol",))
    m.apply(ev.Typing(conv="g:ops", name="carol", active=True))          # not open here: no buffer made for it
    m.apply(ev.ReadBy(conv="g:ops", seq=2, names=("carol",)))
    assert "g:ops" not in m.buffers.by_conv
    m.apply(msg(conv="g:dev", title="dev", seq=6, text="@alice look", mentions=("alice",), mention=True))
    m.apply(ev.Notification(conv="g:dev", title="dev", seq=6, sender="bob", text="@alice look", reason="mention"))
    assert dev.line_at(6).notified and dev.line_at(6).mention and m.bells == 1
    m.apply(ev.StatusChanged(state="away", text="lunch"))
    assert m.status == ("away", "lunch", False) and texts(dev)[-1] == "you are away: lunch"
    hits = tuple(ev.SearchHit(conv="g:dev", title="dev", seq=s, ts=msg().ts, sender="bob", text="lunch")
                 for s in (6, 3))
    m.apply(ev.SearchResults(query="lunch", results=hits))
    assert texts(dev)[-1].startswith("Alt+G")
    assert m.next_hit() == hits[0] and m.next_hit() == hits[1] and m.next_hit() == hits[0]
    m.settle_jump()
    assert dev.line_at(6).found and dev.anchor is None and not dev.target      # the newest: nothing below
    m.next_hit()
    m.settle_jump()
    assert dev.line_at(3).found and not dev.line_at(6).found and dev.anchor == dev.lines.index(dev.line_at(3)) + 5


def test_the_status_bar_shows_you_the_buffer_the_link_the_activity_list_and_more() -> None:
    from zchat.frontends.cli_render import status_bar, title_bar

    m = three_buffers()
    m.apply(ev.ConnectionChanged(state=C.LIVE))
    for k in range(1, 4):
        m.apply(listed(dev=k))
        m.apply(msg(conv="g:dev", title="dev", seq=k, text=f"line {k}"))
    m.apply(listed(dev=3, bob=1))
    m.apply(msg(conv="dm:alice:bob", title="bob", seq=1, text="psst"))

    def bar() -> str:
        return "".join(text for _, text in status_bar(m))

    assert bar() == " [alice] 1:everyone [live] [2:#dev(3) 3:@bob(1)]"
    m.hide_joins = True
    m.buffers.shown.add(Line(LineKind.INFO, "a"))
    m.buffers.shown.add(Line(LineKind.INFO, "b"))
    m.buffers.shown.scroll(-1, 1, lambda line: 1)
    assert bar().endswith("[2:#dev(3) 3:@bob(1)] [joins hidden] -MORE(1)-")
    assert "".join(t for _, t in title_bar(m, 200)).startswith(" 1:everyone  everyone in the chat  ")
    assert "".join(t for _, t in title_bar(m, 30)) == " 1:everyone  everyone in the chat"
