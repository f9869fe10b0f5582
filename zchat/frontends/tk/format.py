"""Words and symbols the Tk client draws: pure functions, no tkinter, no sockets.

Kept apart from the widgets so they can be tested without a display and shared by the
join screen, the main window and the screenshot script.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from zchat import events as ev
from zchat.frontends import text
from zchat.frontends.text import STATE_WORDS

MISSED_MARKER = "── messages you missed while away ──"
STATE_ICON = {"online": "●", "lost": "◐", "away": "○"}


@dataclass(frozen=True, slots=True)
class Line:
    """One drawn line of a transcript. ``style``: msg, own, event, info, error, marker, history."""
    style: str
    text: str
    ts: float | None = None
    sender: str = ""
    seq: int = 0


def conv_label(conv: str, title: str) -> str:
    """"# everyone", "@ bob" for a DM, "# team" for a group."""
    return "# everyone" if conv == "all" else text.conv_label(conv, title, gap=" ")


def conv_kind(conv: str) -> str:
    return "dm" if conv.startswith("dm:") else "group" if conv.startswith("g:") else "everyone"


def message_line(m: ev.MessageReceived) -> Line:
    if m.kind != "msg":
        return Line("event", f"{text.clean(m.sender)} {text.clean(m.text, indent=6)}", m.ts, seq=m.seq)
    style = "history" if m.history else "own" if m.own else "msg"
    return Line(style, text.clean(m.text, indent=6), m.ts, text.clean(m.sender), m.seq)


def presence_line(p: ev.PresenceChanged) -> Line:
    return Line("event", f"{text.clean(p.name)} {text.presence_phrase(p.reason)}", time.time())


def status_text(c: ev.ConnectionChanged) -> tuple[str, str]:
    """(text, level) for the status bar; level is ok, busy or bad."""
    if c.state == "live":
        return "● connected", "ok"
    if c.state == "catching_up":
        return f"◌ catching up: {c.behind} behind", "busy"
    if c.state == "connected":
        return "◌ connected, joining…", "busy"
    if c.state == "connecting":
        return f"◌ connecting to {c.detail}…", "busy"
    if c.state == "reconnecting":
        retry = f" (retrying in {c.retry_in:.2g} s)" if c.retry_in is not None else ""
        return f"✕ offline: {c.detail or 'reconnecting'}{retry}", "bad"
    if c.state == "failed":
        return f"✕ failed: {c.detail}", "bad"
    return c.state, "busy"


def users_text(u: ev.UsersListed) -> str:
    who = ", ".join(f"{text.clean(n)} ({STATE_WORDS.get(s, s)})" for n, s in u.users)
    return f"{u.total} in {text.clean(u.title)}: {who}"


def groups_text(g: ev.GroupsListed) -> str:
    if not g.groups:
        return "no groups yet: create one with the + button or /create NAME"
    return "groups: " + ", ".join(f"#{text.clean(n)} ({m} member{'s' * (m != 1)}{', private' * p}"
                                  f"{', joined' * j})" for n, p, m, j in g.groups)
