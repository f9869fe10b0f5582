"""One person, several devices, in the Tk client, for real: a real broker, the Tk window under Xvfb
driven with real keys and clicks, the other device a plain Client joined with the window's link
code (two Tk roots in one process are fragile, see tk_helpers.park_pointer), or the real program
``python -m zchat --ui tk --link CODE`` in its own process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess
from zchat import events as ev
from zchat.frontends.tk.join import LINK_CHECK

tkinter = pytest.importorskip("tkinter", reason="tkinter cannot be imported")
from tests.tk_helpers import assert_fits, click, focus, inside, pump, type_into, wait_event, xdo  # noqa: E402


def texts(u, conv: str, text: str) -> list:  # type: ignore[no-untyped-def]
    return [line for line in u.win.transcripts.get(conv, ()) if line.text == text]


def test_link_a_second_device_chat_from_both_and_revoke_it(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice", "900x560+0+0")
    bob = other(broker.connect, "bob", config="bob")
    win = alice.win
    # Ctrl+L: the dialog opens at once, the code comes from the broker
    focus(win.entry)
    xdo(alice.root, "key", "ctrl+l")
    assert pump(alice.root, lambda: win.link_dialog is not None and win.link_dialog.code_text != "", 10)
    d = win.link_dialog
    code = d.code_text
    assert d.winfo_viewable() and d.code.get() == code and str(d.code.cget("state")) == "readonly"
    assert d.code.selection_present()                                # selected: Ctrl+C copies it
    assert d.valid.cget("text").startswith("Valid for 10 minutes (until ")
    assert f"--link {code}" in d.how.cget("text") and LINK_CHECK in d.how.cget("text")
    pump(alice.root, lambda: False, 0.1)
    assert_fits(d)
    click(d.copy_button)
    assert pump(alice.root, lambda: d.valid.cget("text").startswith("Copied."), 5)
    assert alice.root.clipboard_get() == code
    xdo(alice.root, "key", "Escape")
    assert pump(alice.root, lambda: not d.winfo_exists() and win.focus_get() == win.entry, 5)

    # the second device joins with the code: another key, the same person
    phone = other(broker.connect, "alice", config="phone", link=code, device="phone")
    phone_saw: list[object] = []
    # live, not just joined: a first DM published before a new session's subscription is in place
    # is not delivered to it (a race in the core, not in this window; see the report)
    wait_event(alice.root, phone, ev.ConnectionChanged, lambda e: e.state == ev.ConnState.LIVE, seen=phone_saw)
    assert pump(alice.root, lambda: ("bob", "online") in win.member_list.rows(), 10)

    # a DM from bob shows on both, once
    bob.dm("alice", "hello both")
    bob.dm("alice", "and a second line")                             # after it: proof nothing more is coming
    wait_event(alice.root, phone, ev.MessageReceived, lambda e: e.text == "and a second line", seen=phone_saw)
    assert pump(alice.root, lambda: texts(alice, "dm:alice:bob", "and a second line"), 10)
    assert len(texts(alice, "dm:alice:bob", "hello both")) == 1
    assert [e.text for e in phone_saw if isinstance(e, ev.MessageReceived)] == ["hello both", "and a second line"]
    assert win.conv_list.tree.exists("dm:alice:bob")

    # a line sent from the phone is alice's own line in the window (and bob gets it from alice)
    phone.send("sent from my phone", "dm:alice:bob")
    assert pump(alice.root, lambda: texts(alice, "dm:alice:bob", "sent from my phone"), 10)
    (line,) = texts(alice, "dm:alice:bob", "sent from my phone")
    assert (line.style, line.sender) == ("own", "alice")
    got = wait_event(alice.root, bob, ev.MessageReceived, lambda e: e.text == "sent from my phone")
    assert got.sender == "alice" and not got.own                      # type: ignore[attr-defined]
    win.pick("dm:alice:bob")
    assert pump(alice.root, lambda: "alice: sent from my phone" in alice.text(), 5), alice.text()

    # Ctrl+Shift+D: the devices, this one marked, the phone online; Revoke asks first
    focus(win.entry)
    xdo(alice.root, "key", "ctrl+shift+d")
    assert pump(alice.root, lambda: win.devices_dialog is not None and "phone" in win.devices_dialog.revoke_buttons, 10)
    dd = win.devices_dialog
    rows = dd.rows()
    assert [r[0] for r in rows] == ["device-1  (this device)", "phone"], rows
    assert [r[2] for r in rows] == ["online now", "online now"]
    assert list(dd.revoke_buttons) == ["phone"]                      # never this device
    pump(alice.root, lambda: False, 0.1)
    assert_fits(dd)
    click(dd.revoke_buttons["phone"])
    assert pump(alice.root, lambda: dd.confirm.winfo_ismapped(), 5)
    assert dd.question.cget("text").startswith("Revoke phone? It is signed out at once")
    assert_fits(dd)
    assert not any(isinstance(e, ev.Left) for e in phone_saw + phone.poll_events(100))  # asking did nothing yet
    click(dd.confirm_button)
    left = wait_event(alice.root, phone, ev.Left, seen=phone_saw)
    assert left.reason == "this device (phone) was revoked"          # type: ignore[attr-defined]
    assert pump(alice.root, lambda: [r[0] for r in dd.rows()] == ["device-1  (this device)"], 10), dd.rows()
    assert not dd.revoke_buttons and not dd.confirm.winfo_ismapped() and dd.error.cget("text") == ""
    assert pump(alice.root, lambda: "revoked the device phone" in alice.text(), 5)
    bob.dm("alice", "after the revoke")                               # the window goes on; the phone hears nothing
    assert pump(alice.root, lambda: "bob: after the revoke" in alice.text(), 10)
    assert not [e for e in phone.poll_events(100) if isinstance(e, ev.MessageReceived)]


def test_the_join_screen_links_this_device_and_a_revoked_window_says_why(broker: BrokerProcess, tk_user, other,
                                                                         capfd: pytest.CaptureFixture) -> None:
    laptop = other(broker.connect, "alice", config="laptop")        # alice's first device: a plain Client
    u = tk_user(broker.connect, geometry="640x400+0+0")
    join = u.app.join
    wait_event(u.root, laptop, ev.Joined)
    laptop.link_device()
    code = wait_event(u.root, laptop, ev.LinkCodeMade).code          # type: ignore[attr-defined]
    type_into(join.name, "alice")
    assert not join.link.winfo_ismapped()
    click(join.link_check)
    assert pump(u.root, lambda: join.link.winfo_ismapped() and join.device.winfo_ismapped(), 5)
    for widget in (join.name, join.server, join.link, join.device, join.link_hint, join.button):
        assert inside(widget), widget
    type_into(join.link, "not a code", "Return")                      # malformed: the core says so, in place
    assert pump(u.root, lambda: "is not a link code" in join.error_text(), 5), join.error_text()
    assert join.focus_get() == join.link and u.app.client is None
    join.link.delete(0, "end")
    type_into(join.link, "AAAA-BBBB-CCCC")
    type_into(join.device, "tk", "Return")                            # well formed, but no such code
    assert pump(u.root, lambda: "Cannot join as alice: " in join.error_text(), 15), join.error_text()
    assert u.app.window is None and join.focus_get() == join.link and join.link.selection_present()
    assert inside(join.error)
    join.link.delete(0, "end")
    type_into(join.link, code.lower().replace("-", " "), "Return")   # case and separators do not matter
    assert pump(u.root, lambda: u.app.window is not None, 15), join.error_text()
    laptop.list_devices()
    devices = wait_event(u.root, laptop, ev.DevicesListed).devices    # type: ignore[attr-defined]
    assert [(d.name, d.online) for d in devices] == [("device-1", True), ("tk", True)]

    # the laptop revokes this window's device: the window says why, and closes only when that was read
    laptop.revoke_device("tk")
    assert pump(u.root, lambda: u.app.ended is not None and u.app.ended.winfo_viewable(), 10)
    box = u.app.ended
    assert box.message.cget("text").startswith("This device (tk) was revoked.")
    assert u.win.status.text() == "✕ session ended: this device (tk) was revoked"
    assert str(u.win.entry.cget("state")) == "disabled"
    pump(u.root, lambda: False, 0.1)
    assert_fits(box, least=3)
    assert u.exit_status is None and not u.app.done                  # still open: the reason is on screen
    assert pump(u.root, lambda: box.focus_get() == box.ok, 5)         # Enter (or Escape) answers it
    # nothing calls the closed Client any more: keys unbound, menu entries and buttons disabled...
    win = u.win
    focus(win.view.text)
    xdo(u.root, "key", "ctrl+l")
    pump(u.root, lambda: False, 0.2)
    assert win.link_dialog is None
    menu = [(win.chat_menu.entrycget(i, "label"), str(win.chat_menu.entrycget(i, "state")))
            for i in range(win.chat_menu.index("end") + 1) if win.chat_menu.type(i) == "command"]
    assert [label for label, state in menu if state != "disabled"] == ["Leave the chat"], menu
    assert all(b.instate(["disabled"]) for key, b in win.buttons.items() if key != "help")
    u.root.after_idle(win.who)                                       # ...and one that still does is no traceback
    assert pump(u.root, lambda: "cannot be used any more" in win.status.text(), 5), win.status.text()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception in Tkinter callback" not in err, err
    focus(box.ok)
    click(box.ok)
    assert pump(u.root, lambda: u.exit_status is not None, 5)
    assert u.exit_status == 0


def test_python_m_zchat_ui_tk_link_joins_as_a_new_device(display: None, broker: BrokerProcess, other,
                                                        tmp_path: Path) -> None:
    """The real program with --link and --device: it joins as a new device of the account; revoked, it
    shows why in a window ("zchat: session ended") and exits 0 once that is answered."""
    laptop = other(broker.connect, "alice", config="laptop")

    def laptop_event(kind: type, timeout: float = 20.0):  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for e in laptop.events(timeout=0.2):
                if isinstance(e, kind):
                    return e
            assert proc is None or proc.poll() is None, proc.stdout.read()  # type: ignore[union-attr]
        raise AssertionError(f"no {kind.__name__} within {timeout} s")

    proc = None
    laptop_event(ev.Joined)
    laptop.link_device()
    code = laptop_event(ev.LinkCodeMade).code
    env = {**os.environ, "ZCHAT_DATA_DIR": str(tmp_path / "no-local-broker")}
    proc = subprocess.Popen([sys.executable, "-m", "zchat", "--ui", "tk", "--name", "alice", "--link", code,
                             "--device", "desk", "--server", broker.connect, "--config-dir", str(tmp_path / "desk")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 30
        while True:                                                   # the new device shows up in the account
            laptop.list_devices()
            listed = laptop_event(ev.DevicesListed)
            if ("desk", True) in [(d.name, d.online) for d in listed.devices]:
                break
            assert time.monotonic() < end, listed
        laptop.revoke_device("desk")
        end = time.monotonic() + 20
        while True:               # another process's window: nothing to pump, so poll X with a deadline
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^zchat: session ended$"],
                                   capture_output=True, text=True).stdout.split()
            if found:
                break
            assert time.monotonic() < end and proc.poll() is None, "no 'session ended' window"
            time.sleep(0.05)
        assert proc.poll() is None                                    # it waits for the user
        # the keys to the dialog, as a click on it would (with no window manager here to do it), then Enter:
        # Tk gives it to the dialog's own focus, OK (the in-process test checks that OK has it)
        subprocess.run(["xdotool", "windowfocus", "--sync", found[0]], check=True, timeout=10)
        subprocess.run(["xdotool", "key", "Return"], check=True, timeout=10)
        assert proc.wait(timeout=20) == 0
        out = proc.stdout.read()                                      # type: ignore[union-attr]
        assert "Traceback" not in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
