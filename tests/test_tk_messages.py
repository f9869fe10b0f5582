"""The Tk client's lines, for real: /history in time order around the missed marker, a message
sent during an outage (sending, then sent), oversize text kept in the entry, a DM to nobody
dropped with its reason shown, Retry, closing a conversation, and invitations answered from the bar. The transcript
rules are also tested on their own, without a display.
"""
from __future__ import annotations

import signal

import pytest

from tests.conftest import BrokerProcess
from zchat import events as ev
from zchat.frontends.tk.format import MISSED_MARKER, Line
from zchat.frontends.tk.transcript import Transcript

tkinter = pytest.importorskip("tkinter", reason="tkinter cannot be imported")
from tests.tk_helpers import click, focus, inside, pump, type_into, xdo  # noqa: E402


def msg(seq: int, text: str, **kw: object) -> Line:
    return Line("msg", text, 1000.0 + seq, kw.pop("sender", "bob"), seq, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the rules, without a display
def test_history_goes_above_what_is_shown_and_is_never_shown_twice() -> None:
    t = Transcript()
    t.add(Line("event", "bob joined", 999.0))                        # no seq: a presence line
    t.add(msg(4, "missed 4"), missed=True)
    t.add(msg(5, "missed 5"), missed=True)
    edits = [t.add_history(msg(s, f"h{s}")) for s in (2, 3, 4, 5)]
    assert edits[2:] == [[], []]                                     # 4 and 5 are shown already
    assert [(line.style, line.text) for line in t] == [
        ("event", "bob joined"), ("msg", "h2"), ("msg", "h3"), ("marker", MISSED_MARKER), ("msg", "missed 4"),
        ("msg", "missed 5")]
    assert edits[0] == [("insert", 1, msg(2, "h2"))] and edits[1] == [("insert", 2, msg(3, "h3"))]
    assert t.add(msg(3, "h3")) == []                                 # a late catch-up of a line shown by /history


@pytest.mark.parametrize("broker_first", [False, True])
def test_an_own_line_is_drawn_at_once_and_settled_once(broker_first: bool) -> None:
    t = Transcript()
    for cmid, text in (("a", "same"), ("b", "same")):
        t.append(Line("own", text, 1.0, "alice", cmid=cmid, status="sending"))
    copy = Line("own", "same", 2.0, "alice", 7)
    if broker_first:
        assert t.settle_own(copy) == [("replace", 0, Line("own", "same", 2.0, "alice", 7, "a", "sent"))]
        assert t.set_status("a", "sent", seq=7)[0][2].status == "sent"
    else:
        t.set_status("a", "sent", seq=7)
        assert t.settle_own(copy)[0][:2] == ("replace", 0)
    assert [(line.seq, line.cmid, line.status) for line in t] == [(7, "a", "sent"), (0, "b", "sending")]
    t.set_status("b", "failed", reason="no such user")
    assert t.lines[1].status == "failed" and t.lines[1].reason == "no such user"
    assert t.remove("b")[1] == [("delete", 1)] and len(t) == 1


def test_a_transcript_keeps_its_newest_lines() -> None:
    t = Transcript(max_lines=3)
    for seq in range(1, 5):
        edits = t.add(msg(seq, f"m{seq}"))
    assert edits[-1] == ("trim", 1) and [line.seq for line in t] == [2, 3, 4]


# ---------------------------------------------------------------- for real
def own_lines(u, conv: str = "all") -> list[Line]:  # type: ignore[no-untyped-def]
    return [line for line in u.win.transcripts[conv] if line.style == "own"]


def test_history_comes_out_in_time_order_around_the_missed_marker(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice")
    for i in range(3):
        type_into(alice.win.entry, f"before {i}", "Return")
    assert pump(alice.root, lambda: [line.status for line in own_lines(alice)] == ["sent"] * 3, 10)
    type_into(alice.win.entry, "[EXIT]", "Return")
    assert pump(alice.root, lambda: alice.app.done, 10)
    bob = other(broker.connect, "bob")
    for i in range(2):
        bob.execute(f"while away {i}")
    again = tk_user(broker.connect, "alice")
    assert pump(again.root, lambda: "bob: while away 1" in again.text(), 15), again.text()
    type_into(again.win.entry, "/history 20", "Return")
    assert pump(again.root, lambda: "alice: before 0" in again.text(), 10), again.text()
    lines = [line for line in again.win.transcripts["all"] if line.seq or line.style == "marker"]
    texts = [line.text for line in lines if line.style != "event"]
    assert texts == ["before 0", "before 1", "before 2", MISSED_MARKER, "while away 0", "while away 1"]
    seqs = [line.seq for line in lines if line.style != "marker"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)       # time order, nothing twice
    stamps = [line.ts for line in lines if line.style != "marker"]
    assert stamps == sorted(stamps)
    shown = again.text()
    assert shown.count("while away 0") == 1
    assert shown.index("before 2") < shown.index(MISSED_MARKER) < shown.index("while away 0")
    type_into(again.win.entry, "/history 20", "Return")                # again: nothing new to show
    assert pump(again.root, lambda: "all shown here already" in again.text(), 10)
    assert again.text().count("before 0") == 1


def test_a_message_sent_during_an_outage_shows_sending_then_sent(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice")
    bob = other(broker.connect, "bob")
    win = alice.win
    assert pump(alice.root, lambda: ("bob", "online") in win.member_list.rows(), 10)
    broker.kill(signal.SIGKILL)
    assert pump(alice.root, lambda: win.status.text().startswith("✕ offline"), 20), win.status.text()
    assert pump(alice.root, lambda: all(state == "unknown" for _, state in win.member_list.rows()), 5)
    assert "offline" in win.member_list.title.cget("text") and alice.root.title() == "zchat — alice (offline)"
    type_into(win.entry, "sent while the broker was down", "Return")
    assert pump(alice.root, lambda: "alice: sent while the broker was down  ◌ sending…" in alice.text(), 5), \
        alice.text()
    assert win.entry.get() == "" and [line.status for line in own_lines(alice)] == ["sending"]
    broker.restart_on_same_port()
    assert pump(alice.root, lambda: [line.status for line in own_lines(alice)] == ["sent"], 30), alice.text()
    assert "alice: sent while the broker was down  ✓" in alice.text() and "sending" not in alice.text()
    assert alice.text().count("sent while the broker was down") == 1
    assert pump(alice.root, lambda: win.status.text() == "● connected", 20)
    assert pump(alice.root, lambda: ("alice", "online") in win.member_list.rows(), 10)
    assert alice.root.title() == "zchat — alice"
    seen = []
    assert pump(alice.root, lambda: seen.extend(bob.poll_events(100)) or any(
        isinstance(e, ev.MessageReceived) and e.text == "sent while the broker was down" for e in seen), 15)


def test_oversize_text_stays_in_the_entry_with_the_reason(broker: BrokerProcess, tk_user) -> None:
    alice = tk_user(broker.connect, "alice")
    win = alice.win
    limit = alice.app.client.max_text_bytes
    too_long = "é" * (limit // 2 + 1)                                # fewer characters than bytes
    win.entry.insert(0, too_long)
    focus(win.entry)
    xdo(alice.root, "key", "Return")
    assert pump(alice.root, lambda: win.notice.winfo_ismapped(), 5)
    assert win.entry.get() == too_long
    assert win.notice.cget("text").startswith(
        f"Too long to send: {limit + 2:,} bytes, and a message may have {limit:,}.")
    assert inside(win.notice) and inside(win.entry)
    assert not any(line.style == "own" for line in win.transcripts.get("all", []))
    win.entry.delete(limit // 2 - 10, "end")                         # shortened: it goes, the notice goes
    xdo(alice.root, "key", "Return")
    assert pump(alice.root, lambda: [line.status for line in own_lines(alice)] == ["sent"], 10)
    assert win.entry.get() == "" and not win.notice.winfo_ismapped()


def test_a_dm_to_nobody_is_dropped_and_the_reason_shown_where_the_user_is(broker: BrokerProcess, tk_user) -> None:
    alice = tk_user(broker.connect, "alice")
    win = alice.win
    tree = win.conv_list.tree
    type_into(win.entry, "/switch @zed", "Return")                   # a user that does not exist
    assert pump(alice.root, lambda: win.current == "dm:alice:zed" and tree.exists("dm:alice:zed"), 10)
    type_into(win.entry, "anyone there?", "Return")
    # the core drops the DM it opened (ConversationsChanged without it, back to everyone): so does the window
    assert pump(alice.root, lambda: win.current == "all" and "not sent to @zed" in alice.text(), 10), alice.text()
    assert not tree.exists("dm:alice:zed") and tree.selection() == ("all",)
    said = [line for line in win.transcripts["all"] if "not sent to @zed" in line.text]
    assert len(said) == 1 and said[0].style == "error"
    assert said[0].text == "✕ not sent to @zed: no user named 'zed'. You wrote: anyone there?"
    assert "dm:alice:zed" not in win.transcripts and not win.sends    # nothing of the dead DM is kept
    assert win.title.cget("text") == "# everyone"
    type_into(win.entry, "/msg zed second try", "Return")            # from everyone, with /msg: the same
    assert pump(alice.root, lambda: "You wrote: second try" in alice.text(), 10), alice.text()
    pump(alice.root, lambda: False, 0.3)                              # later lists from the core do not bring it back
    assert not tree.exists("dm:alice:zed") and win.current == "all"
    assert [line.text for line in win.transcripts["all"] if line.style == "error"] == [
        "✕ not sent to @zed: no user named 'zed'. You wrote: anyone there?",
        "✕ not sent to @zed: no user named 'zed'. You wrote: second try"]


def test_retry_sends_a_refused_line_again_and_a_dm_can_be_closed(broker: BrokerProcess, tk_user, other) -> None:
    """Retry, for a refusal whose conversation stays. The core no longer refuses a line for good in a
    conversation it keeps (a DM to nobody is dropped; no other refusal can happen to a line this
    window lets through), so the refusal is the one event injected here; the retry goes for real."""
    alice = tk_user(broker.connect, "alice")
    bob = other(broker.connect, "bob")
    win = alice.win
    assert pump(alice.root, lambda: ("bob", "online") in win.member_list.rows(), 10)
    type_into(win.entry, "/msg bob hello", "Return")
    assert pump(alice.root, lambda: win.conv_list.tree.exists("dm:alice:bob"), 10)
    win.pick("dm:alice:bob")
    assert pump(alice.root, lambda: [line.status for line in own_lines(alice, "dm:alice:bob")] == ["sent"], 10)
    refused = ev.SendStatus(cmid="c-refused", conv="dm:alice:bob", text="try me again", state=ev.SendState.SENDING)
    win.apply(refused)
    win.apply(ev.SendStatus(cmid="c-refused", conv="dm:alice:bob", text="try me again", state=ev.SendState.FAILED,
                            reason="refused for this test"))
    win.apply(ev.CommandFailed(code="internal", message="refused for this test", command="send"))
    win.flush()
    assert "alice: try me again  ✕ not sent: refused for this test  Retry" in alice.text()
    assert win.conv_list.tree.exists("dm:alice:bob") and win.current == "dm:alice:bob"
    text = win.view.text
    x, y, w, h = text.bbox(f"{text.tag_ranges('retry')[0]} + 2c")
    xdo(alice.root, "mousemove", str(text.winfo_rootx() + x), str(text.winfo_rooty() + y + h // 2))
    assert pump(alice.root, lambda: text.cget("cursor") == "hand2", 5)
    xdo(alice.root, "click", "1")                                    # Retry: the same text as a new message
    assert pump(alice.root, lambda: [(line.cmid != "c-refused", line.status)
                                     for line in own_lines(alice, "dm:alice:bob")][1:] == [(True, "sent")], 10)
    assert alice.text().count("try me again") == 1                   # the retried line took the old one's place
    got = []
    assert pump(alice.root, lambda: got.extend(e for e in bob.poll_events(100) if isinstance(e, ev.MessageReceived)
                                               and e.text == "try me again") or got, 10)
    pump(alice.root, lambda: False, 0.3)
    assert len(got + [e for e in bob.poll_events(100) if isinstance(e, ev.MessageReceived)
                      and e.text == "try me again"]) == 1             # bob gets it once
    focus(win.entry)
    xdo(alice.root, "key", "ctrl+w")                                  # close it (a DM cannot be left)
    assert pump(alice.root, lambda: win.current == "all" and not win.conv_list.tree.exists("dm:alice:bob"), 10)
    pump(alice.root, lambda: False, 0.3)                              # later lists from the core keep it closed
    assert not win.conv_list.tree.exists("dm:alice:bob")


def test_an_invitation_is_a_bar_with_accept_and_decline(broker: BrokerProcess, tk_user, other) -> None:
    alice = tk_user(broker.connect, "alice", "640x400+0+0")
    bob = other(broker.connect, "bob")
    win = alice.win
    assert pump(alice.root, lambda: ("bob", "online") in win.member_list.rows(), 10)
    for group in ("secret", "other"):
        bob.create_group(group, private=True)
    assert pump(alice.root,
                lambda: [e for e in bob.poll_events(100) if isinstance(e, ev.Info) and "other" in e.text], 10)
    bob.invite("alice", "secret")
    bob.invite("alice", "other")
    assert pump(alice.root, lambda: "bob invited you to the private group #secret" in win.invites.text()
                and "(+1 more)" in win.invites.text(), 10), win.invites.text()
    for widget in (win.invites.label, win.invites.accept, win.invites.decline, win.entry, win.buttons["send"]):
        assert inside(widget), widget
    assert "invited" not in alice.text()                              # a prompt, not a line lost in a conversation
    click(win.invites.accept)
    assert pump(alice.root, lambda: win.current == "g:secret" and win.conv_list.tree.exists("g:secret"), 10)
    assert pump(alice.root, lambda: "#other" in win.invites.text(), 5)
    click(win.invites.decline)
    assert pump(alice.root, lambda: not win.invites.winfo_ismapped(), 5)
    assert not win.conv_list.tree.exists("g:other")
