"""Issue 15 in the Tk client, for real: a scripted conversation in a group, with alice in the Tk
window (Xvfb, real keys and clicks through xdotool) and bob and carol as plain Clients on the same
broker. Mentions (highlighted, counted, notified: the bell and the title, since no notification
server runs here; the urgency hint while unfocused), replies with their quote, reactions with who
made them, edits and deletions redrawn in place, /me, the topic, typing both ways, read receipts,
presence with its text and alice's own, moderation as an event line, and search with paging and
the jump to a result. The pieces that need no display are tested on their own at the end.
"""
from __future__ import annotations

import sys
import threading
import time
import types

import pytest

from tests.conftest import BrokerProcess
from zchat import events as ev
from zchat.frontends.tk import format as fmt
from zchat.frontends.tk.transcript import Transcript

tkinter = pytest.importorskip("tkinter", reason="tkinter cannot be imported")
from tests.tk_helpers import (  # noqa: E402
    click,
    click_row,
    focus,
    menu_click,
    park_pointer,
    pump,
    row_point,
    submenu_click,
    type_into,
    wait_event,
    xdo,
)
from zchat.frontends.tk.attention import Attention, DesktopNotifier, is_urgent  # noqa: E402

G = "g:design"


def row_of(u, text: str) -> int:  # type: ignore[no-untyped-def]
    view = u.win.view
    return next(i for i, line in enumerate(view.rows) if text in line.text)


def seq_of(u, text: str, conv: str = G) -> int:  # type: ignore[no-untyped-def]
    return next(line.seq for line in u.win.transcripts[conv] if text in line.text)


def tags_at(u, i: int, offset: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    view = u.win.view
    return view.text.tag_names(f"{view.row_range(i)[0]} + {offset}")


def tagged(u, tag: str) -> list[str]:  # type: ignore[no-untyped-def]
    t = u.win.view.text
    ranges = t.tag_ranges(tag)
    return [t.get(a, b) for a, b in zip(ranges[::2], ranges[1::2], strict=True)]


def group_of_three(broker: BrokerProcess, tk_user, other):  # type: ignore[no-untyped-def]
    """alice (Tk) creates #design, bob and carol (Clients) join it; all three look at it."""
    alice = tk_user(broker.connect, "alice", "1000x620+0+0")
    bob, carol = other(broker.connect, "bob"), other(broker.connect, "carol")
    win = alice.win
    type_into(win.entry, "/create design", "Return")
    assert pump(alice.root, lambda: win.current == G, 10)
    for c in (bob, carol):
        c.join_group("design")
        wait_event(alice.root, c, ev.ConversationsChanged, lambda e: e.current == G)
    assert pump(alice.root, lambda: {"bob", "carol"} <= set(win.members.get(G, {})), 10), win.members
    return alice, bob, carol


def test_a_scripted_conversation_uses_every_line_feature(broker: BrokerProcess, tk_user, other,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)   # no notification server under Xvfb
    alice, bob, carol = group_of_three(broker, tk_user, other)
    win, view = alice.win, alice.win.view
    assert win.attention.desktop is None and not win.attention.via_desktop
    # the topic, under the group's name
    type_into(win.entry, "/topic Q3 redesign: mock-ups by Friday", "Return")
    assert pump(alice.root, lambda: win.topic.winfo_ismapped() and
                win.topic.cget("text") == "Q3 redesign: mock-ups by Friday", 10)
    assert "set the topic" in alice.text()
    # a mention while alice looks at everyone: highlighted, counted, notified (bell and title: no desktop here)
    win.pick("all")
    focus(win.entry)
    bob.execute("morning @alice, the mock-ups are in")
    assert pump(alice.root, lambda: win.attention.rung == 1, 10)
    assert win.attention.last == ("bob mentioned you in #design", "bob: morning @alice, the mock-ups are in")
    assert pump(alice.root, lambda: alice.root.title() == "zchat — alice (1 unread, 1 mention)", 10), alice.root.title()
    assert alice.win.conv_list.tree.set(G, "unread") == "1 @1"
    assert "mention" in alice.win.conv_list.tree.item(G, "tags")
    # unfocused (another window has the focus): the urgency hint, and the title says who wants her
    elsewhere = tk_user(broker.connect, geometry="260x200+1015+0")
    focus(elsewhere.app.join.name)
    assert pump([alice.root, elsewhere.root], lambda: not win.focused(), 5)
    carol.execute("@alice can you look at the header?")
    assert pump([alice.root, elsewhere.root], lambda: win.attention.rung == 2, 10)
    assert is_urgent(alice.root) is True
    assert pump([alice.root, elsewhere.root], lambda: alice.root.title() ==
                "zchat — alice (2 unread, 2 mentions) · carol mentioned you in #design", 10), alice.root.title()
    focus(win.entry)                                              # back: the hint and the alert go
    assert pump([alice.root, elsewhere.root], lambda: is_urgent(alice.root) is False and not win.alert, 5)
    click_row(win.conv_list.tree, G)
    assert pump(alice.root, lambda: win.current == G and alice.root.title() == "zchat — alice", 10), alice.root.title()
    i = row_of(alice, "morning @alice")
    assert "mention" in tags_at(alice, i, "2c") and "@alice" in tagged(alice, "at")
    # a reply through the line's menu: the quote above it, for everyone
    bob_seq = seq_of(alice, "morning @alice")
    xdo(alice.root, "mousemove", *row_point(alice, "morning @alice"), "click", "3")
    menu_click(alice, "Reply")
    assert win.compose_label.cget("text") == "↪ Replying to bob: morning @alice, the mock-ups are in"
    type_into(win.entry, "on it, thanks", "Return")
    got = wait_event(alice.root, bob, ev.MessageReceived, lambda e: e.text == "on it, thanks")
    assert got.reply_to == bob_seq and got.reply_sender == "bob"  # type: ignore[attr-defined]
    assert pump(alice.root, lambda: "on it, thanks" in alice.text() and not win.compose_bar.winfo_ismapped(), 10)
    reply_seq = seq_of(alice, "on it, thanks")
    assert view.row_text(row_of(alice, "on it, thanks")).startswith(
        "  ↪ bob: morning @alice, the mock-ups are in\n")
    # reactions, aggregated with who made them; alice's own through React ▸
    bob.react(reply_seq, "👍", G)
    assert pump(alice.root, lambda: "👍 1 bob" in alice.text(), 10)
    carol.react(reply_seq, "👍", G)
    carol.react(reply_seq, "🎉", G)
    assert pump(alice.root, lambda: "👍 2 bob, carol   🎉 1 carol" in alice.text(), 10), alice.text()
    assert tagged(alice, "reaction") == ["👍 2 bob, carol", "🎉 1 carol"]
    xdo(alice.root, "mousemove", *row_point(alice, "morning @alice"), "click", "3")
    submenu_click(alice, "React", "👍")
    changed = wait_event(alice.root, bob, ev.MessageChanged, lambda e: e.seq == bob_seq and e.change == "react")
    assert changed.reactions == (("👍", ("alice",)),)  # type: ignore[attr-defined]
    # alice edits her reply through the menu: that row alone is redrawn, in place
    xdo(alice.root, "mousemove", *row_point(alice, "on it, thanks"), "click", "3")
    assert pump(alice.root, lambda: "Edit" in win.menus.labels(), 5)
    assert win.menus.labels() == [f"Message #{reply_seq} from alice", "Reply", "React", "Edit", "Delete",
                                  "Copy text"]
    before = [view.row_text(k) for k in range(len(view.rows))]
    i = row_of(alice, "on it, thanks")
    menu_click(alice, "Edit")
    assert win.entry.get() == "on it, thanks"
    win.entry.delete(0, "end")
    type_into(win.entry, "on it: reviewing now", "Return")
    assert pump(alice.root, lambda: "reviewing now  (edited)" in alice.text(), 10), alice.text()
    after = [view.row_text(k) for k in range(len(view.rows))]
    assert len(after) == len(before) and [k for k in range(len(after)) if after[k] != before[k]] == [i]
    quote, said, reactions = after[i].split("\n")[:3]                # ("seen by" may have come meanwhile)
    assert [quote, said, reactions] == before[i].replace("on it, thanks", "on it: reviewing now  (edited)").split(
        "\n")[:3]
    assert said.endswith("alice: on it: reviewing now  (edited)  ✓")
    assert reactions == "      👍 2 bob, carol   🎉 1 carol   "
    assert tagged(alice, "edited") == ["  (edited)"]
    # a reply started here is dropped on going elsewhere (it answers a line of this conversation)
    xdo(alice.root, "mousemove", *row_point(alice, "morning @alice"), "click", "3")
    menu_click(alice, "Reply")
    assert win.compose_bar.winfo_ismapped() or pump(alice.root, win.compose_bar.winfo_ismapped, 5)
    win.pick("all")
    assert pump(alice.root, lambda: not win.compose_bar.winfo_ismapped() and win.composing is None, 5)
    win.pick(G)
    assert pump(alice.root, lambda: win.current == G and "reviewing now" in alice.text(), 10)
    # bob edits his line, carol deletes hers: alice sees "(edited)" and "message deleted"
    bob.edit("morning @alice, the mock-ups are in the shared folder", bob_seq, G)
    assert pump(alice.root, lambda: "the mock-ups are in the shared folder  (edited)" in alice.text(), 10)
    carol.execute("oops, wrong room")
    assert pump(alice.root, lambda: "oops, wrong room" in alice.text(), 10)
    carol.delete(conv=G)
    assert pump(alice.root, lambda: "carol: message deleted" in alice.text() and "oops" not in alice.text(), 10)
    assert "message deleted" in tagged(alice, "deleted")
    # /me as an action line
    type_into(win.entry, "/me waves", "Return")
    assert pump(alice.root, lambda: "* alice waves" in alice.text(), 10)
    assert "waves" in "".join(tagged(alice, "action"))
    # typing: bob's shows under the messages and goes when his line comes; alice's keys reach bob
    bob.typing(G)
    assert pump(alice.root, lambda: win.typing_label.cget("text") == "bob is typing…", 10)
    bob.execute("see you at 3")
    assert pump(alice.root, lambda: "see you at 3" in alice.text() and win.typing_label.cget("text") == "", 10)
    focus(win.entry)                       # alice keeps typing (the core says so at most every 3 s)
    deadline, seen = time.monotonic() + 15, []
    while not any(isinstance(e, ev.Typing) and e.name == "alice" and e.active and e.conv == G for e in seen):
        assert time.monotonic() < deadline, "bob never saw alice typing"
        xdo(alice.root, "type", "--delay", "20", "hel")
        pump(alice.root, lambda: seen.extend(bob.poll_events(100)) or bool(seen), 0.5)
    win.entry.delete(0, "end")
    # read receipts under alice's last line (bob and carol have #design on screen)
    assert pump(alice.root, lambda: "seen by bob, carol" in alice.text(), 15), alice.text()
    last = view.rows[row_of(alice, "waves")]
    assert last.seen == ("bob", "carol") and view.row_text(row_of(alice, "waves")).endswith("seen by bob, carol\n")
    assert tagged(alice, "seen") == ["      seen by bob, carol\n"]
    # moderation from a member's menu (alice owns #design), seen as an event line; /ban from the entry
    tree = win.member_list.tree
    x, y, w, h = tree.bbox("carol")
    xdo(alice.root, "mousemove", str(tree.winfo_rootx() + x + 20), str(tree.winfo_rooty() + y + h // 2), "click", "3")
    assert pump(alice.root, lambda: "Copy name" in win.menus.labels(), 5)
    assert win.menus.labels() == ["Write to carol", "Kick carol from #design", "Ban carol from #design", "Copy name"]
    menu_click(alice, "Kick carol from #design")
    assert pump(alice.root, lambda: "alice kicked carol" in alice.text(), 10), alice.text()
    wait_event(alice.root, carol, ev.Info, lambda e: "you were kicked from design by alice" in e.text)
    type_into(win.entry, "/ban bob", "Return")
    assert pump(alice.root, lambda: "alice banned bob" in alice.text(), 10), alice.text()


def test_presence_typing_notifications_and_do_not_disturb(broker: BrokerProcess, tk_user, other,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    alice, bob, carol = group_of_three(broker, tk_user, other)
    win, members = alice.win, alice.win.member_list
    dave = other(broker.connect, "dave")
    assert pump(alice.root, lambda: win.presence.get("dave") == "online", 10)
    # others' states, each drawn its own way, with a chosen state's text (and a tooltip)
    bob.away("lunch")
    carol.dnd("focus time")
    assert pump(alice.root, lambda: dict(members.rows()).get("bob") == "away: lunch"
                and dict(members.rows()).get("carol") == "do not disturb: focus time", 10), members.rows()
    assert members.tree.item("bob", "text") == "◑ bob" and members.tree.item("bob", "tags")[0] == "away"
    assert members.tree.item("carol", "text") == "⊖ carol" and members.tree.item("carol", "tags")[0] == "dnd"
    assert "bob is away: lunch" in [line.text for line in win.transcripts["all"]]     # said in everyone
    x, y, w, h = members.tree.bbox("bob")
    xdo(alice.root, "mousemove", str(members.tree.winfo_rootx() + x + 20), str(members.tree.winfo_rooty() + y + h // 2))
    assert pump(alice.root, lambda: members.tooltip.winfo_ismapped() and
                members.tooltip.msg_var.get() == "bob: away: lunch", 5)
    # typing that stops without a line: gone after a few seconds (the core's timer)
    bob.typing(G)
    assert pump(alice.root, lambda: win.typing_label.cget("text") == "bob is typing…", 10)
    assert pump(alice.root, lambda: win.typing_label.cget("text") == "", 15)
    dave.leave()
    win.pick("all")
    assert pump(alice.root, lambda: win.presence.get("dave") == "offline" and members.tree.exists("dave"), 15)
    assert members.tree.item("dave", "tags")[0] == "offline" and members.tree.item("dave", "text") == "○ dave"
    # alice's own state from the status bar: do not disturb, then no notification (still counted)
    click(win.status.presence)
    menu = win.status.presence_menu
    assert pump(alice.root, menu.winfo_ismapped, 5)
    y = menu.winfo_rooty() + menu.yposition(2) + 6                # "⊖ do not disturb"
    xdo(alice.root, "mousemove", str(menu.winfo_rootx() + 30), str(y), "click", "1")
    assert pump(alice.root, lambda: win.status.presence_text() == "⊖ do not disturb ▾", 10)
    assert "you are do not disturb" in alice.text()
    bob.switch("#design")
    bob.execute("@alice are you there?")
    assert pump(alice.root, lambda: win.convs[G].mentions == 1, 10)
    pump(alice.root, lambda: False, 0.3)                          # the events of that line are all drawn
    assert win.attention.rung == 0 and "(1 unread, 1 mention)" in alice.root.title()
    type_into(win.entry, "/back", "Return")
    assert pump(alice.root, lambda: win.status.presence_text() == "● online ▾", 10)
    bob.execute("@alice now?")
    assert pump(alice.root, lambda: win.attention.rung == 1, 10)
    # a DM is a mention too
    bob.dm("alice", "a word in private")
    assert pump(alice.root, lambda: win.attention.rung == 2, 10)
    assert win.attention.last == ("bob wrote to you", "bob: a word in private")


@pytest.fixture
def broker_args() -> tuple[str, ...]:
    return ("--history-page-max", "11")          # search pages of 11 (a context's 5 + 1 + 5 still fit one)


def test_search_pages_newest_first_and_a_result_jumps_to_its_context(broker: BrokerProcess, tk_user,
                                                                     other) -> None:
    """alice read the lines in an earlier session: this window has none of them until a result is
    clicked, which brings the lines around it (Client.context) and marks it."""
    first, bob, _carol = group_of_three(broker, tk_user, other)
    bob.switch("#design")
    for n in range(14):
        bob.execute(f"deploy step {n}")
        wait_event(first.root, bob, ev.MessageReceived, lambda e, n=n: e.text == f"deploy step {n}")
    bob.execute("unrelated chatter")
    assert pump(first.root, lambda: "unrelated chatter" in first.text(), 10)
    seq0 = seq_of(first, "deploy step 0")
    type_into(first.win.entry, "[EXIT]", "Return")
    assert pump(first.root, lambda: first.app.done, 10)
    alice = tk_user(broker.connect, "alice", "1000x620+0+0")
    win = alice.win
    assert pump(alice.root, lambda: win.conv_list.tree.exists(G), 10)
    assert not any("deploy" in line.text for t in win.transcripts.values() for line in t)
    focus(win.entry)
    xdo(alice.root, "key", "ctrl+f")
    assert pump(alice.root, lambda: win.focus_get() == win.search.box, 5)
    xdo(alice.root, "type", "--delay", "20", "deploy")
    xdo(alice.root, "key", "Return")
    assert pump(alice.root, lambda: len(win.search.rows()) == 11, 10), win.search.rows()
    assert [what for _, what in win.search.rows()] == [f"bob: deploy step {n}" for n in range(13, 2, -1)]
    assert win.search.rows()[0][0].startswith("# design  ")
    assert "11 results" in win.search.label.cget("text") and "disabled" not in win.search.more.state()
    click(win.search.more)
    assert pump(alice.root, lambda: len(win.search.rows()) == 14, 10), win.search.rows()
    assert [what for _, what in win.search.rows()][11:] == ["bob: deploy step 2", "bob: deploy step 1",
                                                            "bob: deploy step 0"]
    assert "14 results" in win.search.label.cget("text")
    # clicking the oldest goes to #design, loads the lines around it and marks it there
    win.search.tree.see(f"{G}/{seq0}")                         # scrolled to, as the user would
    assert pump(alice.root, lambda: bool(win.search.tree.bbox(f"{G}/{seq0}")), 5)
    click_row(win.search.tree, f"{G}/{seq0}")
    assert pump(alice.root, lambda: win.current == G and tagged(alice, "found"), 10), alice.text()
    assert tagged(alice, "found")[0].split("  ", 1)[1] == "bob: deploy step 0\n"
    assert "bob: deploy step 3" in alice.text()                 # its context came with it
    assert alice.text().index("deploy step 0") < alice.text().index("deploy step 3")


# ---------------------------------------------------------------- without a server
def test_line_words() -> None:
    m = ev.MessageReceived(conv=G, title="design", seq=9, ts=0, sender="bob", text="ok @Alice and @zed", kind="me",
                           reply_to=3, reply_sender="carol", reply_text="x" * 80, mentions=("alice",), mention=True,
                           reactions=(("👍", ("a", "b", "c", "d")),))
    line = fmt.message_line(m)
    assert line.action and line.mention and line.reply == "carol: " + "x" * 59 + "…"
    assert fmt.mention_pieces(line.text, line.mentions) == [("ok ", False), ("@Alice", True), (" and @zed", False)]
    assert fmt.reaction_text("👍", ("a", "b", "c", "d")) == "👍 4 a, b, c +1"
    changed = fmt.changed_line(line, ev.MessageChanged(conv=G, title="design", seq=9, sender="bob", text="", kind="me",
                                                       change="delete", by="bob", deleted=True))
    assert changed.deleted and changed.reply == line.reply and changed.reactions == ()
    assert [fmt.typing_text(n) for n in ([], ["bob"], ["bob", "carol"], ["a", "b", "c"])] == [
        "", "bob is typing…", "bob and carol are typing…", "3 people are typing…"]
    assert fmt.counts_text(0, 0) == "" and fmt.counts_text(3, 1) == "3 unread, 1 mention"
    assert fmt.notification_text(ev.Notification(conv="dm:alice:bob", title="bob", seq=1, sender="bob", text="hi",
                                                 reason="dm", missed=True, count=4)) == (
        "4 messages while you were away in a direct message", "bob: hi")
    t = Transcript()
    for seq in (1, 2, 3):
        t.add(fmt.Line("own", f"m{seq}", 1.0, "alice", seq))
    assert t.set_seen(2, ("bob",)) == [("replace", 1, fmt.Line("own", "m2", 1.0, "alice", 2, seen=("bob",)))]
    edits = t.set_seen(3, ("bob", "carol"))                      # moves: off line 2, onto line 3
    assert [e[:2] for e in edits] == [("replace", 1), ("replace", 2)] and t.lines[1].seen == ()
    assert t.change(7, lambda line: line) == []                  # a line not here: nothing to redraw


def test_the_desktop_notifier_path_up_to_the_call_it_makes(display: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """desktop-notifier is optional and there is no notification server under Xvfb: a stand-in module
    with its API (``DesktopNotifier(app_name=...)``, ``await send(title=..., message=...)``) records the
    call, made on the notifier's own thread; a failure there hands over to the bell."""
    calls: list[tuple[str, str, str, str]] = []
    done = threading.Event()

    class StandIn:
        def __init__(self, app_name: str) -> None:
            self.app_name = app_name

        async def send(self, title: str, message: str) -> None:
            if title == "fail":
                raise RuntimeError("org.freedesktop.Notifications was not provided by any .service files")
            calls.append((self.app_name, title, message, threading.current_thread().name))
            done.set()
    monkeypatch.setitem(sys.modules, "desktop_notifier", types.SimpleNamespace(DesktopNotifier=StandIn))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus")
    root = tkinter.Tk()
    root.geometry("200x100+0+0")
    pump(root, root.winfo_viewable, 5)
    try:
        a = Attention(root)
        assert isinstance(a.desktop, DesktopNotifier) and a.via_desktop
        a.notify("bob mentioned you in #design", "bob: @alice look")
        assert done.wait(10)
        assert calls == [("zchat", "bob mentioned you in #design", "bob: @alice look", "zchat-notify")]
        assert a.rung == 0
        a.notify("fail", "x")
        assert pump(root, lambda: a.desktop is not None and a.desktop.failed, 10)
        a.notify("again", "y")                                   # the desktop failed: the bell now
        assert a.rung == 1 and not a.via_desktop
        a.close()
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
        assert Attention(root).desktop is None                   # no session bus: no desktop notifications
    finally:
        park_pointer(root)                   # see park_pointer: a later Tk() in this process must not crash
        root.destroy()


def test_each_presence_state_is_drawn_its_own_way(display: None) -> None:
    from zchat.frontends.tk.widgets import STATE_COLORS, MemberList
    root = tkinter.Tk()
    root.geometry("300x200+0+0")
    try:
        members = MemberList(root, on_open=lambda name: None, on_menu=lambda name, e: None)
        members.pack(fill="both", expand=True)
        users = {"ann": "online", "bob": "away", "cat": "dnd", "dan": "lost", "eve": "offline"}
        members.show("People", users, statuses={"bob": "lunch", "cat": "focus", "ann": "ignored when online"})
        assert members.rows() == [("ann", "online"), ("bob", "away: lunch"), ("cat", "do not disturb: focus"),
                                  ("dan", "lost connection"), ("eve", "offline")]
        drawn = {name: (members.tree.item(name, "text")[0], members.tree.item(name, "tags")[0]) for name in users}
        assert drawn == {"ann": ("●", "online"), "bob": ("◑", "away"), "cat": ("⊖", "dnd"), "dan": ("◐", "lost"),
                         "eve": ("○", "offline")}
        colours = [members.tree.tag_configure(state, "foreground") for state in users.values()]
        assert len(set(map(str, colours))) == 5 and str(colours[2]) == STATE_COLORS["dnd"]
        members.show("People", users, offline=True)                 # this client offline: nobody's state is known
        assert {state for _, state in members.rows()} == {"unknown"}
    finally:
        park_pointer(root)                   # see park_pointer: a later Tk() in this process must not crash
        root.destroy()
