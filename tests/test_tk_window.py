"""The Tk window itself, for real under Xvfb: the layout at small and large sizes, dialogs
whose widgets fit, the help window, right-click menus, double-click, links, the remembered
geometry, the fonts CI installs, and ``python -m zchat --ui tk`` end to end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import webbrowser
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess
from zchat import events as ev
from zchat.commands import COMMANDS
from zchat.frontends.tk import settings
from zchat.frontends.tk.format import SHORTCUTS

tkinter = pytest.importorskip("tkinter", reason="tkinter cannot be imported")
from tests.tk_helpers import (  # noqa: E402
    assert_fits,
    click,
    focus,
    inside,
    menu_click,
    pump,
    row_point,
    type_into,
    wait_event,
    xdo,
)


def resize(u, w: int, h: int) -> None:  # type: ignore[no-untyped-def]
    u.root.geometry(f"{w}x{h}+0+0")
    assert pump(u.root, lambda: (u.root.winfo_width(), u.root.winfo_height()) == (w, h), 5), u.root.geometry()
    pump(u.root, lambda: False, 0.1)          # let grid and the panes settle


@pytest.mark.parametrize("size", [(640, 400), (800, 480), (1280, 800)])
def test_the_entry_and_send_button_are_never_lost(broker: BrokerProcess, tk_user, size: tuple[int, int]) -> None:
    u = tk_user(broker.connect, "alice", f"{size[0]}x{size[1]}+0+0")
    resize(u, *size)
    win = u.win
    for widget in (win.entry, win.buttons["send"], win.view.text, win.conv_list, win.member_list, win.status):
        assert inside(widget), (widget, widget.winfo_geometry(), u.root.winfo_geometry())
    assert win.view.text.winfo_height() >= 100                          # room for a few lines at least
    assert win.entry.winfo_width() >= 150
    type_into(win.entry, "still works", "Return")
    assert pump(u.root, lambda: "alice: still works" in u.text(), 10)


def test_the_window_does_not_go_below_its_minimum_size(broker: BrokerProcess, tk_user) -> None:
    u = tk_user(broker.connect, "alice")
    u.root.geometry("400x250+0+0")
    pump(u.root, lambda: False, 0.3)
    assert (u.root.winfo_width(), u.root.winfo_height()) >= settings.MIN_SIZE
    assert u.root.wm_minsize() == settings.MIN_SIZE
    assert inside(u.win.entry) and inside(u.win.buttons["send"])


@pytest.mark.parametrize("size", [(640, 400), (900, 480)])
def test_every_dialog_shows_all_its_widgets(broker: BrokerProcess, tk_user, size: tuple[int, int]) -> None:
    u = tk_user(broker.connect, "alice", f"{size[0]}x{size[1]}+0+0")
    win = u.win
    type_into(win.entry, "/create ops", "Return")                      # the invite dialog needs a group
    assert pump(u.root, lambda: win.current == "g:ops", 10)
    for key, open_it in (("dm", win.ask_dm), ("create", win.ask_create), ("join", win.ask_join),
                         ("invite", win.ask_invite)):
        open_it()
        d = win.dialogs[key]
        assert pump(u.root, lambda d=d: d.winfo_viewable() and d.winfo_width() > 1, 5), key
        pump(u.root, lambda: False, 0.1)
        assert_fits(d)
        if key == "create":
            assert d.check is not None and d.check.cget("text") == "private (invite only)"
            assert inside(d.check, d) and d.check.winfo_width() >= d.check.winfo_reqwidth()
        d.close()
    win.ask_link()                                                     # the devices' dialogs, with their answers
    assert pump(u.root, lambda: win.link_dialog.code_text != "", 10)
    pump(u.root, lambda: False, 0.1)
    assert_fits(win.link_dialog)
    win.link_dialog.close()
    win.show_devices()
    assert pump(u.root, lambda: [(r[0], r[2]) for r in win.devices_dialog.rows()] == [
        ("device-1  (this device)", "online now")], 10)
    win.devices_dialog.ask("device-1")                                 # (the confirmation strip, drawn for size)
    pump(u.root, lambda: False, 0.1)
    assert_fits(win.devices_dialog, least=9)
    win.devices_dialog.close()
    # and for real: a private group through the dialog, with keys and a click
    focus(win.entry)
    xdo(u.root, "key", "ctrl+g")
    d = win.dialogs["create"]
    assert pump(u.root, lambda: d.winfo_viewable() and d.focus_get() == d.fields[0], 5)
    xdo(u.root, "type", "--delay", "20", "secret")
    click(d.check)
    assert pump(u.root, lambda: d.checked.get(), 5)
    xdo(u.root, "key", "Return")
    tree = win.conv_list.tree
    assert pump(u.root, lambda: tree.exists("g:secret") and tree.item("g:secret", "text") == "# secret (private)", 10)


def test_the_new_dm_dialog_refuses_a_stranger_and_keeps_the_name(broker: BrokerProcess, tk_user, other) -> None:
    u = tk_user(broker.connect, "alice")
    other(broker.connect, "bob")
    win = u.win
    assert pump(u.root, lambda: ("bob", "online") in win.member_list.rows(), 10)
    focus(win.entry)
    xdo(u.root, "key", "ctrl+n")
    d = win.dialogs["dm"]
    assert pump(u.root, lambda: d.winfo_viewable() and d.focus_get() == d.fields[0], 5)
    assert list(d.fields[0].cget("values")) == ["bob"]
    xdo(u.root, "type", "--delay", "20", "zed")
    xdo(u.root, "key", "Return")
    assert pump(u.root, lambda: "Nobody called 'zed'" in d.error.cget("text"), 5)
    assert d.winfo_exists() and d.fields[0].get() == "zed" and inside(d.error, d)
    assert not win.conv_list.tree.exists("dm:alice:zed")
    d.fields[0].delete(0, "end")
    xdo(u.root, "type", "--delay", "20", "bob")
    xdo(u.root, "key", "Return")
    assert pump(u.root, lambda: win.current == "dm:alice:bob" and not d.winfo_exists(), 10)


def test_a_name_the_core_refuses_is_said_in_the_dialog_never_as_a_traceback(broker: BrokerProcess, tk_user,
                                                                            capfd: pytest.CaptureFixture) -> None:
    """The Client checks its arguments in the caller and raises ValueError: the dialog shows the
    sentence and stays open with what was typed; nothing goes to stderr."""
    u = tk_user(broker.connect, "alice")
    win = u.win
    for keys, key, typed in (("ctrl+g", "create", "my group"), ("ctrl+j", "join", "no-way!")):
        focus(win.entry)
        xdo(u.root, "key", keys)
        d = win.dialogs[key]
        assert pump(u.root, lambda d=d: d.winfo_viewable() and d.focus_get() == d.fields[0], 5)
        xdo(u.root, "type", "--delay", "20", typed)
        xdo(u.root, "key", "Return")
        assert pump(u.root, lambda d=d, typed=typed: f"invalid group name {typed!r}" in d.error.cget("text"),
                    5), d.error.cget("text")
        assert d.winfo_exists() and d.fields[0].get() == typed and inside(d.error, d)
        d.close()
    pump(u.root, lambda: False, 0.2)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception in Tkinter callback" not in err, err
    assert not any(c.kind == ev.ConvKind.GROUP for c in win.convs.values())


def test_f1_and_help_open_a_help_window_with_every_shortcut_and_command(broker: BrokerProcess, tk_user) -> None:
    u = tk_user(broker.connect, "alice")
    win = u.win
    before = u.text()
    focus(win.entry)
    xdo(u.root, "key", "F1")
    assert pump(u.root, lambda: win.help is not None and win.help.winfo_viewable(), 5)
    h = win.help
    rows = h.rows()
    assert [r for r in rows if r in SHORTCUTS] == list(SHORTCUTS)
    assert [spec.usage for spec in COMMANDS.values()] == [a for a, _ in rows if a.startswith("/")]
    assert ("/devices", COMMANDS["devices"].what) in rows and ("Ctrl+L", dict(SHORTCUTS)["Ctrl+L"]) in rows
    pump(u.root, lambda: False, 0.1)
    assert inside(h.text, h) and inside(h.close_button, h)
    assert h.winfo_width() <= h.winfo_screenwidth() and h.winfo_height() <= h.winfo_screenheight()  # on screen
    assert h.winfo_rootx() >= 0 and h.winfo_rooty() >= 0
    assert all(h.tk.call("font", "measure", "TkDefaultFont", key) < h.key_width for key, _ in rows)  # keys not cut
    starts = set()                                                      # where each shown description begins
    for n, line in enumerate(h.text.get("1.0", "end-1c").split("\n"), start=1):
        key, tab, _ = line.partition("\t")
        box, key_end = h.text.bbox(f"{n}.{len(key) + 1}"), h.text.bbox(f"{n}.{len(key) - 1}")
        if tab and box and key_end:
            assert key_end[0] + key_end[2] < box[0], line
            starts.add(box[0])
    assert len(starts) == 1, starts                                    # one column, past every key
    assert u.text() == before                                           # nothing dumped into the conversation
    xdo(u.root, "key", "Escape")
    assert pump(u.root, lambda: not h.winfo_exists() and win.focus_get() == win.entry, 5)
    type_into(win.entry, "/help", "Return")                             # the command opens it too
    assert pump(u.root, lambda: win.help is not h and win.help.winfo_viewable(), 5)
    assert u.text() == before


def test_right_click_menus_double_click_and_links(broker: BrokerProcess, tk_user, other, tmp_path: Path) -> None:
    u = tk_user(broker.connect, "alice", "900x560+0+0")
    bob = other(broker.connect, "bob")
    win = u.win
    assert pump(u.root, lambda: ("bob", "online") in win.member_list.rows(), 10)
    bob.execute("the notes are at https://example.org/notes?id=7, have a look")
    assert pump(u.root, lambda: "have a look" in u.text(), 10)
    assert win.view.links() == ["https://example.org/notes?id=7"]
    # the message menu: copy the text, then reply to its sender
    xdo(u.root, "mousemove", *row_point(u, "have a look"), "click", "3")
    assert pump(u.root, lambda: "Copy text" in win.menus.labels(), 5)
    assert win.menus.labels() == ["Message #1 from bob", "Reply", "React", "Copy text",
                                  "Reply to bob in a direct message"]      # not bob's: no Edit, no Delete
    menu_click(u, "Copy text")
    assert u.root.clipboard_get() == "the notes are at https://example.org/notes?id=7, have a look"
    xdo(u.root, "mousemove", *row_point(u, "have a look"), "click", "3")
    menu_click(u, "Reply to bob in a direct message")
    assert pump(u.root, lambda: win.current == "dm:alice:bob", 10)
    # a link: hand cursor over it, a click opens it in the web browser
    win.pick("all")
    assert pump(u.root, lambda: win.current == "all" and win.view.links(), 5)
    opened = tmp_path / "opened.txt"
    webbrowser.register("zchat-test-recorder", None, webbrowser.GenericBrowser(
        [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')", str(opened), "%s"]),
        preferred=True)
    text = win.view.text
    start = text.tag_ranges("link")[0]
    x, y, w, h = text.bbox(f"{start} + 5c")
    xdo(u.root, "mousemove", str(text.winfo_rootx() + x + w // 2), str(text.winfo_rooty() + y + h // 2))
    assert pump(u.root, lambda: text.cget("cursor") == "hand2", 5)
    assert "underline" in text.tag_configure("link") and text.tag_cget("link", "underline") in ("1", 1, True)
    xdo(u.root, "click", "1")
    assert pump(u.root, lambda: opened.exists() and opened.read_text() == "https://example.org/notes?id=7\n", 10)
    # a person: the menu writes to them or invites them; a double-click writes to them
    type_into(win.entry, "/create ops", "Return")
    assert pump(u.root, lambda: win.current == "g:ops", 10)
    win.pick("all")
    assert pump(u.root, lambda: win.member_list.tree.exists("bob") and win.current == "all", 5)
    tree = win.member_list.tree
    x, y, w, h = tree.bbox("bob")
    xdo(u.root, "mousemove", str(tree.winfo_rootx() + x + 20), str(tree.winfo_rooty() + y + h // 2), "click", "3")
    assert pump(u.root, lambda: "Copy name" in win.menus.labels(), 5)
    assert win.menus.labels() == ["Write to bob", "Invite bob to #ops", "Copy name"]
    menu_click(u, "Invite bob to #ops")
    wait_event(u.root, bob, ev.Invited, lambda e: e.group == "ops" and e.by == "alice")
    xdo(u.root, "mousemove", str(tree.winfo_rootx() + x + 20), str(tree.winfo_rooty() + y + h // 2),
        "click", "--repeat", "2", "--delay", "60", "1")
    assert pump(u.root, lambda: win.current == "dm:alice:bob", 10)
    # a conversation: close the direct messages from its menu
    conv_tree = win.conv_list.tree
    x, y, w, h = conv_tree.bbox("dm:alice:bob")
    xdo(u.root, "mousemove", str(conv_tree.winfo_rootx() + x + 20), str(conv_tree.winfo_rooty() + y + h // 2),
        "click", "3")
    menu_click(u, "Close the conversation with bob")
    assert pump(u.root, lambda: not conv_tree.exists("dm:alice:bob") and win.current == "all", 10)


def test_the_window_geometry_is_remembered_when_it_fits(broker: BrokerProcess, tk_user, tmp_path: Path) -> None:
    u = tk_user(broker.connect, "alice", "820x500+40+30")
    pump(u.root, lambda: u.root.winfo_width() == 820, 5)
    type_into(u.win.entry, "[EXIT]", "Return")
    assert pump(u.root, lambda: u.app.done, 10)
    saved = json.loads((tmp_path / "cfg" / "tk.json").read_text())
    assert saved == {"geometry": "820x500+40+30"}
    again = tk_user(broker.connect, None, geometry=None)
    assert pump(again.root, lambda: again.root.geometry() == "820x500+40+30", 5), again.root.geometry()
    (tmp_path / "cfg" / "tk.json").write_text(json.dumps({"geometry": "5000x4000+0+0"}))   # a bigger screen's
    big = tk_user(broker.connect, None, geometry=None)
    default = "x".join(map(str, settings.DEFAULT_SIZE))
    assert pump(big.root, lambda: big.root.geometry().startswith(default + "+"), 5), big.root.geometry()
    (tmp_path / "cfg" / "tk.json").write_text(json.dumps({"geometry": "700x450+1000+700"}))  # off this screen
    off = tk_user(broker.connect, None, geometry=None)
    assert pump(off.root, lambda: off.root.geometry().startswith("700x450+"), 5), off.root.geometry()
    x, y = off.root.winfo_rootx(), off.root.winfo_rooty()
    assert x + 700 <= off.root.winfo_screenwidth() and y + 450 <= off.root.winfo_screenheight()
    (tmp_path / "cfg" / "tk.json").write_text("{not json")
    assert settings.load(tmp_path / "cfg") == {}


def test_fitting_geometry() -> None:
    screen = (1280, 800)
    assert settings.fitting("800x600+10+20", screen) == "800x600+10+20"
    assert settings.fitting("800x600+900+20", screen) == "800x600"
    assert settings.fitting("800x600-10+20", screen) == "800x600"
    assert settings.fitting("2000x600+0+0", screen) is None
    assert settings.fitting("300x200+0+0", screen) is None            # below the minimum
    assert settings.fitting("junk", screen) is None and settings.fitting(None, screen) is None


@pytest.mark.parametrize("char, what", [("4f60", "CJK (你)"), ("1f600", "emoji (😀)")])
def test_a_font_for_cjk_and_emoji_is_installed(char: str, what: str) -> None:
    """.ci/run installs fonts-wqy-microhei and fonts-noto-color-emoji; without them Tk draws boxes."""
    r = subprocess.run(["fc-list", f":charset={char}", "family"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip(), f"no font for {what}: run .ci/run (it installs them)"


def test_python_m_zchat_ui_tk_end_to_end(display: None, broker: BrokerProcess, other, tmp_path: Path) -> None:
    """The real entry point: join, talk with real keys, leave with Ctrl+Q, the geometry saved."""
    config = tmp_path / "alice-cfg"
    env = {**os.environ, "ZCHAT_DATA_DIR": str(tmp_path / "no-local-broker")}
    proc = subprocess.Popen([sys.executable, "-m", "zchat", "--ui", "tk", "--name", "alice", "--server",
                             broker.connect, "--config-dir", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        bob = other(broker.connect, "bob")
        seen: list[object] = []

        def bob_sees(cond, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                for e in bob.events(timeout=0.2):
                    seen.append(e)
                    if cond(e):
                        return
                assert proc.poll() is None, proc.stdout.read()  # type: ignore[union-attr]
            raise AssertionError(f"bob did not see it; saw {seen[-10:]}")
        bob_sees(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == "live")
        end = time.monotonic() + 20
        while subprocess.run(["xdotool", "search", "--name", "^zchat .* alice$"], capture_output=True).returncode:
            assert time.monotonic() < end and proc.poll() is None, "the window did not open"
            time.sleep(0.05)   # another process's window: nothing to pump, poll X with a deadline
        wid = subprocess.run(["xdotool", "search", "--name", "^zchat .* alice$"], capture_output=True,
                             text=True).stdout.split()[0]
        assert subprocess.run(["xdotool", "getwindowgeometry", wid], capture_output=True, text=True).returncode == 0
        bob_sees(lambda e: isinstance(e, ev.PresenceChanged) and e.name == "alice" and e.state == "online")
        subprocess.run(["xdotool", "type", "--delay", "20", "hello from the real program"], check=True, timeout=30)
        subprocess.run(["xdotool", "key", "Return"], check=True, timeout=10)
        bob_sees(lambda e: isinstance(e, ev.MessageReceived) and e.sender == "alice"
                 and e.text == "hello from the real program")
        subprocess.run(["xdotool", "key", "ctrl+q"], check=True, timeout=10)
        bob_sees(lambda e: isinstance(e, ev.PresenceChanged) and e.name == "alice" and e.reason == "left")
        assert proc.wait(timeout=20) == 0
        assert settings.fitting(json.loads((config / "tk.json").read_text())["geometry"], (1280, 800))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
