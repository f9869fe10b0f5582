"""The Tk client, for real: Tk under Xvfb (pytest-xvfb), real key presses and clicks with
xdotool, real brokers (tests/conftest.py), other users as Tk windows, a CLI process and
plain Clients. Skipped only when tkinter itself cannot be imported; a missing Xvfb or
xdotool is a failure, not a skip (CI must install them).
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess
from zchat import events as ev

try:
    import tkinter
    TK_ERROR = ""
except ImportError as exc:      # Python built without _tkinter (Debian's python3 without python3-tk)
    tkinter, TK_ERROR = None, str(exc)  # type: ignore[assignment]

needs_tk = pytest.mark.skipif(tkinter is None, reason=f"tkinter cannot be imported: {TK_ERROR}")
if tkinter is not None:
    import tkinter.font

    from tests.tk_helpers import CliUser, click, click_row, focus, inside, pump, type_into, wait_event, xdo


def open_dialog(user, key: str) -> bool:  # type: ignore[no-untyped-def]
    d = user.win.dialogs.get(key)
    return d is not None and bool(d.winfo_exists()) and bool(d.winfo_viewable())


# ---------------------------------------------------------------- without a display
def test_frontend_module_imports_without_tkinter() -> None:
    code = ("import sys; sys.modules['tkinter'] = None\n"
            "import zchat.frontends.tk as t\n"
            "got = []\n"
            "t.zchat_register_frontends(lambda name, factory, help: got.append((name, factory.__name__, help)))\n"
            "print(got, 'tkinter' in sys.modules and sys.modules['tkinter'] is not None)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[('tk', 'TkFrontend', 'desktop client (Tk)')] False"


def test_format_lines() -> None:
    from zchat.frontends.tk import format as fmt
    m = ev.MessageReceived(conv="all", title="everyone", seq=1, ts=0, sender="bob", text="hi\x1b[31m\nthere")
    line = fmt.message_line(m)
    assert (line.style, line.sender, line.text) == ("msg", "bob", "hi[31m\n      there")
    assert fmt.status_text(ev.ConnectionChanged(state="catching_up", behind=7))[0] == "◌ catching up: 7 behind"
    assert fmt.conv_label("dm:a:b", "b") == "@ b" and fmt.conv_label("g:t", "t") == "# t"
    assert fmt.split_links("see https://x.org/a?b=1, or http://y.io).") == [
        ("see ", False), ("https://x.org/a?b=1", True), (", or ", False), ("http://y.io", True), (").", False)]


def test_device_and_link_code_words() -> None:
    from zchat.frontends.tk import format as fmt
    now = 1_800_000_000.0
    assert [fmt.ago(now - s, now) for s in (-5, 30, 60, 119, 3599, 3600, 86399, 86400 * 6)] == [
        "just now", "just now", "1 minute ago", "1 minute ago", "59 minutes ago", "1 hour ago", "23 hours ago",
        "6 days ago"]
    assert fmt.ago(now - 86400 * 8, now) == time.strftime("on %Y-%m-%d", time.localtime(now - 86400 * 8))
    phone = ev.Device(name="phone", created=now - 100, last_seen=now - 300, online=False)
    assert fmt.device_seen(phone, now) == "last seen 5 minutes ago"
    assert fmt.device_seen(ev.Device(name="pc", created=now, last_seen=now, online=True), now) == "online now"
    assert fmt.link_validity(now + 600, now).startswith("Valid for 10 minutes (until ")
    assert fmt.link_validity(now + 40, now).startswith("Valid for 1 minute (")
    assert fmt.link_validity(now - 1, now) == "This code has expired: make a new one (Ctrl+L)."


# ---------------------------------------------------------------- the join screen
@needs_tk
def test_join_screen_fills_in_the_local_broker_and_shows_a_taken_name_in_place(
        broker: BrokerProcess, tk_user, other, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZCHAT_DATA_DIR", str(broker.data_dir))     # the "local default" broker
    squatter = other(broker.connect, "bob", config="squatter")      # another key holds "bob"
    deadline = time.monotonic() + 10
    while not any(isinstance(e, ev.Joined) for e in squatter.poll_events(50)):
        assert time.monotonic() < deadline
        time.sleep(0.01)    # no Tk yet to pump; the squatter's join is a precondition
    u = tk_user(None, geometry="640x400+0+0")                       # the smallest window
    join = u.app.join
    assert join.server.get() == broker.connect
    assert not join.link.winfo_ismapped()                            # the link rows wait until asked for
    type_into(join.name, "bob")
    click(join.button)
    assert pump(u.root, lambda: "bob" in join.error_text() and join.error_text() != "", 15)
    assert join.error_text().startswith("Cannot join as bob: the name 'bob' belongs to another key")
    assert "link code" in join.error_text()                          # ...and how to use it from here too
    pump(u.root, lambda: False, 0.1)
    assert u.app.window is None and join.winfo_ismapped()
    lines = join.error.winfo_height() // tkinter.font.nametofont("TkDefaultFont").metrics("linespace")
    assert lines >= 2 and join.error.winfo_width() <= join.winfo_width()          # wrapped, not cut
    assert join.linking.get() and join.link.winfo_ismapped()         # perhaps it is bob's: the code goes here
    for widget in (join.error, join.name, join.server, join.link, join.device, join.button, join.link_check):
        assert inside(widget), (widget, widget.winfo_geometry())
    assert join.name.selection_present() and join.focus_get() == join.name    # ready to type another name
    type_into(join.name, "bobby", "Return")
    assert pump(u.root, lambda: u.app.window is not None, 15), join.error_text()
    assert pump(u.root, lambda: ("bobby", "online") in u.win.member_list.rows(), 10), \
        (u.win.member_list.rows(), u.text())


@needs_tk
def test_a_bad_connect_string_is_shown_in_place(display: None, tk_user, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("ZCHAT_DATA_DIR", str(tmp_path / "nowhere"))
    u = tk_user(None)
    join = u.app.join
    assert join.server.get() == ""
    type_into(join.name, "alice", "Return")                          # no local broker: NoServer
    assert pump(u.root, lambda: "no local broker" in join.error_text(), 5), join.error_text()
    type_into(join.server, "tcp://127.0.0.1:1#key=nothex", "Return")
    assert pump(u.root, lambda: "key" in join.error_text() and "hex" in join.error_text(), 5), join.error_text()
    assert u.app.window is None and u.app.client is None


# ---------------------------------------------------------------- talking
@needs_tk
def test_two_tk_clients_and_a_cli_client_talk_through_one_broker(broker: BrokerProcess, tk_user,
                                                                tmp_path: Path) -> None:
    alice = tk_user(broker.connect, "alice", "760x520+0+0")
    bob = tk_user(broker.connect, "bob", "760x520+30+60")
    roots = [alice.root, bob.root]
    carol = CliUser("carol", broker.connect, tmp_path / "cfg")
    try:
        assert pump(roots, lambda: carol.said("joined") or carol.said("carol"), 20), carol.lines
        assert pump(roots, lambda: ("carol", "online") in alice.win.member_list.rows(), 15)
        type_into(alice.win.entry, "hello from alice", "Return", roots=[bob.root])
        assert pump(roots, lambda: "alice: hello from alice" in bob.text(), 10), bob.text()
        assert pump(roots, lambda: carol.said("alice: hello from alice"), 10), carol.lines
        assert "alice: hello from alice" in alice.text()
        carol.send("hi from the terminal")
        assert pump(roots, lambda: all("carol: hi from the terminal" in u.text() for u in (alice, bob)), 10)
        click(bob.win.entry)
        xdo(roots, "type", "--delay", "20", "and bob")
        click(bob.win.buttons["send"], roots=[alice.root])        # the ➤ button sends too
        assert pump(roots, lambda: "bob: and bob" in alice.text() and carol.said("bob: and bob"), 10)
        assert bob.win.entry.get() == ""
        carol.send("[EXIT]")
        assert pump(roots, lambda: carol.proc.poll() is not None, 15)
        assert carol.proc.returncode == 0
        assert pump(roots, lambda: "carol left" in alice.text(), 10), alice.text()
        assert pump(roots, lambda: "carol left" in bob.text(), 10), bob.text()
        # not asserted: carol "away" in the member list. After [EXIT] the core sometimes says hello
        # again (a NOT_JOINED answer to a late ping restarts the session): see the report.
    finally:
        carol.close()


@needs_tk
def test_a_direct_message_from_the_toolbar(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice", "760x520+0+0")
    bob = tk_user(broker.connect, "bob", "760x520+30+60")
    eve = other(broker.connect, "eve")
    roots = [alice.root, bob.root]
    seen: list[object] = []
    wait_event(roots, eve, ev.Joined, seen=seen)
    click(bob.win.buttons["dm"], roots=[alice.root])                   # ✉: the "New direct message" dialog
    assert pump(roots, lambda: open_dialog(bob, "dm") and bob.root.focus_get() == bob.win.dialogs["dm"].fields[0], 5)
    assert "alice" in bob.win.dialogs["dm"].fields[0].cget("values")   # the people it knows, to pick from
    xdo(roots, "type", "--delay", "20", "alice")
    xdo(roots, "key", "Return")
    assert pump(roots, lambda: bob.win.current == "dm:alice:bob", 10)
    assert pump(roots, lambda: bob.win.focus_get() == bob.win.entry, 5)
    xdo(roots, "type", "--delay", "20", "just between us")
    xdo(roots, "key", "Return")
    tree = alice.win.conv_list.tree
    # a DM counts as a mention: "1 @1" in the list, and in alice's title
    assert pump(roots, lambda: tree.exists("dm:alice:bob") and tree.set("dm:alice:bob", "unread") == "1 @1", 10)
    assert "(1 unread, 1 mention)" in alice.root.title()
    assert "just between us" not in alice.text()                       # alice is still in everyone
    alice.win.flush()
    click_row(tree, "dm:alice:bob", roots=[bob.root])
    assert pump(roots, lambda: alice.win.current == "dm:alice:bob" and "bob: just between us" in alice.text(), 10)
    assert pump(roots, lambda: tree.set("dm:alice:bob", "unread") == "", 10)
    pump(roots, lambda: False, 0.3)
    assert not any(isinstance(e, ev.MessageReceived) and "between" in e.text for e in seen + eve.poll_events(500))


@needs_tk
def test_create_join_talk_in_and_leave_a_group(broker: BrokerProcess, tk_user) -> None:
    alice = tk_user(broker.connect, "alice", "760x520+0+0")
    bob = tk_user(broker.connect, "bob", "760x520+30+60")
    roots = [alice.root, bob.root]
    focus(alice.win.entry)
    xdo(roots, "key", "ctrl+g")                                        # create a group
    assert pump(roots, lambda: open_dialog(alice, "create"), 5)
    xdo(roots, "type", "--delay", "20", "team")
    xdo(roots, "key", "Return")
    assert pump(roots, lambda: alice.win.current == "g:team" and "alice created" in alice.text(), 10), (
        alice.win.current, alice.text())
    click(bob.win.buttons["join"], roots=[alice.root])                 # ⇥: join a group
    assert pump(roots, lambda: open_dialog(bob, "join")
                and "team" in bob.win.dialogs["join"].fields[0].cget("values"), 5)
    xdo(roots, "type", "--delay", "20", "team")
    xdo(roots, "key", "Return")
    assert pump(roots, lambda: bob.win.current == "g:team" and "bob joined" in bob.text(), 10)
    assert pump(roots, lambda: {n for n, _ in alice.win.member_list.rows()} == {"alice", "bob"}, 10)
    assert alice.win.member_list.title.cget("text") == "Members of #team (2 online)"
    type_into(bob.win.entry, "hi team", "Return", roots=[alice.root])
    assert pump(roots, lambda: "bob: hi team" in alice.text(), 10)
    assert "hi team" not in "".join(line.text for line in alice.win.transcripts["all"])
    assert str(bob.win.buttons["leave"].state()) != "('disabled',)"
    click(bob.win.buttons["leave"], roots=[alice.root])                # ⏏: leave this group
    assert pump(roots, lambda: not bob.win.conv_list.tree.exists("g:team") and bob.win.current == "all", 10)
    assert pump(roots, lambda: "bob left" in alice.text(), 10), alice.text()
    assert "disabled" in bob.win.buttons["leave"].state()


@needs_tk
def test_slash_commands_and_errors_in_the_entry(broker: BrokerProcess, tk_user) -> None:
    alice = tk_user(broker.connect, "alice")
    type_into(alice.win.entry, "/who", "Return")
    assert pump(alice.root, lambda: "1 in everyone: alice (online)" in alice.text(), 10), alice.text()
    type_into(alice.win.entry, "/frobnicate", "Return")
    assert pump(alice.root, lambda: "✕ unknown command /frobnicate" in alice.text(), 10)
    type_into(alice.win.entry, "/create", "Return")
    assert pump(alice.root, lambda: "✕ usage: /create GROUP" in alice.text(), 10)
    type_into(alice.win.entry, "", "Up")                               # recall the last line
    assert alice.win.entry.get() == "/create"


@needs_tk
def test_members_show_online_lost_and_away_and_missed_messages_are_marked(broker: BrokerProcess, tk_user,
                                                                         other) -> None:
    alice = tk_user(broker.connect, "alice")
    bob = other(broker.connect, "bob")
    assert pump(alice.root, lambda: ("bob", "online") in alice.win.member_list.rows(), 10)
    bob.close()                                                        # gone without a word: lost, then away
    assert pump(alice.root, lambda: ("bob", "lost connection") in alice.win.member_list.rows(), 20)
    type_into(alice.win.entry, "[EXIT]", "Return")
    assert pump(alice.root, lambda: alice.app.done, 10) and alice.exit_status == 0
    carol = other(broker.connect, "carol")
    for i in range(3):
        carol.execute(f"while you were out {i}")
    again = tk_user(broker.connect, "alice")
    assert pump(again.root, lambda: "carol: while you were out 2" in again.text(), 15), again.text()
    text = again.text()
    assert text.index("missed while away") < text.index("while you were out 0")


# ---------------------------------------------------------------- connection, exit, load
@needs_tk
def test_broker_restarted_under_the_open_window(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice")
    status = alice.win.status
    assert pump(alice.root, lambda: status.text() == "● connected", 10), status.text()
    broker.kill(signal.SIGKILL)
    assert pump(alice.root, lambda: status.text().startswith("✕ offline"), 20), status.text()
    type_into(alice.win.entry, "sent while the broker was down", "Return")    # never blocks
    broker.restart_on_same_port()
    assert pump(alice.root, lambda: status.text() == "● connected", 30), status.text()
    assert pump(alice.root, lambda: "alice: sent while the broker was down" in alice.text(), 15), alice.text()
    bob = other(broker.connect, "bob")
    bob.execute("welcome back")
    assert pump(alice.root, lambda: "bob: welcome back" in alice.text(), 15)


@needs_tk
def test_exit_in_the_entry_leaves_cleanly_and_tells_the_others(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice")
    bob = other(broker.connect, "bob")
    seen: list[object] = []
    wait_event(alice.root, bob, ev.Joined, seen=seen)
    type_into(alice.win.entry, "[EXIT]", "Return")
    assert pump(alice.root, lambda: alice.app.done, 10) and alice.exit_status == 0
    assert alice.app.client is None                                    # the client is closed
    wait_event(alice.root, bob, ev.PresenceChanged, lambda e: e.name == "alice" and e.reason == "left")


@needs_tk
def test_closing_the_window_leaves_cleanly_and_tells_the_others(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice")
    bob = other(broker.connect, "bob")
    wait_event(alice.root, bob, ev.ConnectionChanged, lambda e: e.state == "live")   # bob's subscriptions are in
    alice.root.tk.call(alice.root.protocol("WM_DELETE_WINDOW"))     # what the window manager's close does
    assert pump(alice.root, lambda: alice.app.done, 10) and alice.exit_status == 0
    wait_event(alice.root, bob, ev.PresenceChanged, lambda e: e.name == "alice" and e.reason == "left")


@needs_tk
def test_a_flood_of_1000_messages_keeps_typing_responsive(broker_factory, tk_user, other) -> None:
    broker = broker_factory("--rate", "100000", "--rate-burst", "100000")
    alice = tk_user(broker.connect, "alice")
    bob = other(broker.connect, "bob")
    assert pump(alice.root, lambda: ("bob", "online") in alice.win.member_list.rows(), 10)
    delays: list[float] = []
    t0 = time.monotonic()

    def on_key(e: object) -> None:       # X server time (ms, CLOCK_MONOTONIC) to Tk handling the key
        delays.append((time.monotonic() * 1000 - e.time) % 2**32)  # type: ignore[attr-defined]
    alice.win.entry.bind("<KeyPress>", on_key, add="+")
    focus(alice.win.entry)

    def flood() -> None:    # 1,000 messages in one burst, past the DEALER's queue limit: none may be lost
        for i in range(1000):
            bob.execute(f"flood {i}")
    sender = threading.Thread(target=flood)
    sender.start()
    xdo(alice.root, "type", "--delay", "30", "typing during the flood")
    sender.join()
    assert alice.win.entry.get() == "typing during the flood"
    assert pump(alice.root, lambda: "bob: flood 999" in alice.text(), 60), alice.text()[-300:]
    assert sum(line.text.startswith("flood ") for line in alice.win.transcripts["all"]) == 1000
    assert len(delays) == len("typing during the flood")
    delays.sort()
    print(f"keystroke wait during the flood: median {delays[len(delays) // 2]:.1f} ms, max {delays[-1]:.1f} ms; "
          f"flood drawn in {time.monotonic() - t0:.2f} s")
    assert delays[-1] < 250, delays


@needs_tk
def test_every_icon_button_has_a_tooltip_and_keyboard_shortcuts_work(broker: BrokerProcess, tk_user) -> None:
    alice = tk_user(broker.connect, "alice")
    win = alice.win
    for key, button in win.buttons.items():
        tip = win.tooltips[key]
        xdo(alice.root, "mousemove", str(button.winfo_rootx() + button.winfo_width() // 2),
            str(button.winfo_rooty() + button.winfo_height() // 2))
        assert pump(alice.root, tip.winfo_viewable, 5), key
        assert tip.msg_var.get() == tip.msg and tip.msg
        xdo(alice.root, "mousemove", "5", "590")
        assert pump(alice.root, lambda tip=tip: not tip.winfo_viewable(), 5), key
    focus(win.entry)
    xdo(alice.root, "key", "ctrl+n")
    assert pump(alice.root, lambda: open_dialog(alice, "dm")
                and alice.win.dialogs["dm"].title() == "New direct message", 5)
    xdo(alice.root, "key", "Escape")
    assert pump(alice.root, lambda: not open_dialog(alice, "dm") and win.focus_get() == win.entry, 5)
    type_into(win.entry, "/create ops", "Return")
    assert pump(alice.root, lambda: win.current == "g:ops", 10)
    xdo(alice.root, "key", "alt+1")                                    # the first conversation: everyone
    assert pump(alice.root, lambda: win.current == "all", 5)
    xdo(alice.root, "key", "ctrl+Next")
    assert pump(alice.root, lambda: win.current == "g:ops", 5)
    xdo(alice.root, "key", "ctrl+w")                                   # leave the group
    assert pump(alice.root, lambda: not win.conv_list.tree.exists("g:ops"), 10)
    xdo(alice.root, "key", "ctrl+q")                                   # leave the chat
    assert pump(alice.root, lambda: alice.app.done, 10)
