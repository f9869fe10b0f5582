"""Words and symbols the Tk client draws: pure functions, no tkinter, no sockets.

Kept apart from the widgets so they can be tested without a display and shared by the
join screen, the main window and the screenshot script.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from zchat import events as ev
from zchat.frontends import text
from zchat.frontends.text import STATE_WORDS

MISSED_MARKER = "── messages you missed while away ──"
STATE_ICON = {"online": "●", "away": "◑", "dnd": "⊖", "lost": "◐", "offline": "○", "unknown": "?"}
COLORS = {"ok": "#1a7f37", "busy": "#9a6700", "bad": "#cf222e", "link": "#0969da", "dim": "#6e7781"}


URL_RE = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
URL_TRAILING = ".,;:!?)]}'\""      # sentence punctuation after a link is not part of it
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Enter", "send the line (slash commands work too)"),
    ("Up / Down", "recall lines you typed"),
    ("Ctrl+N", "new direct message"),
    ("Ctrl+G", "create a group"),
    ("Ctrl+J", "join a group"),
    ("Ctrl+W", "leave the current group, or close the current direct messages"),
    ("Ctrl+PageUp / Ctrl+PageDown", "previous / next conversation"),
    ("Alt+1 … Alt+9", "go to conversation 1 … 9"),
    ("Ctrl+L", "link a new device to your account: shows a one-time code"),
    ("Ctrl+Shift+D", "your devices: when each was last seen; sign one out for good"),
    ("Ctrl+Q", "leave the chat (same as [EXIT])"),
    ("F1", "this help"),
    ("Escape", "back to the message entry"),
    ("double-click a person", "write to them"),
    ("right-click", "a message, a person or a conversation: what you can do with it"),
    ("● ◐ ○ ?", "people: online, lost connection, away, unknown (you are offline)"),
)


@dataclass(frozen=True, slots=True)
class Line:
    """One drawn line of a transcript. ``style``: msg, own, event, info, error, marker, history.
    ``cmid`` and ``status`` (sending, sent, failed with ``reason``) mark a line typed in this window."""
    style: str
    text: str
    ts: float | None = None
    sender: str = ""
    seq: int = 0
    cmid: str = ""
    status: str = ""
    reason: str = ""


def split_links(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_link) with every http(s) link on its own."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in URL_RE.finditer(text):
        url = m.group().rstrip(URL_TRAILING)
        if m.start() > pos:
            out.append((text[pos:m.start()], False))
        out.append((url, True))
        pos = m.start() + len(url)
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def status_suffix(line: Line) -> str:
    """What follows an own line: "sending…", a tick, or why it failed."""
    if line.status == "sending":
        return "  ◌ sending…"
    if line.status == "sent":
        return "  ✓"
    if line.status == "failed":
        return f"  ✕ not sent: {text.clean(line.reason) or 'refused'}  "
    return ""


def conv_label(conv: str, title: str) -> str:
    """"# everyone", "@ bob" for a DM, "# team" for a group."""
    return "# everyone" if conv == "all" else text.conv_label(conv, title, gap=" ")


def message_line(m: ev.MessageReceived) -> Line:
    if m.kind != "msg":
        return Line("event", f"{text.clean(m.sender)} {text.clean(m.text, indent=6)}", m.ts, seq=m.seq)
    style = "history" if m.history else "own" if m.own else "msg"
    return Line(style, text.clean(m.text, indent=6), m.ts, text.clean(m.sender), m.seq)


def presence_line(p: ev.PresenceChanged) -> Line:
    return Line("event", f"{text.clean(p.name)} {text.presence_phrase(p.reason)}", time.time())


def own_line(s: ev.SendStatus, name: str) -> Line:
    """The line drawn as soon as this user sends, before the broker has it."""
    return Line("own", text.clean(s.text, indent=6), time.time(), text.clean(name), cmid=s.cmid, status=s.state,
                reason=s.reason)


def status_text(c: ev.ConnectionChanged) -> tuple[str, str]:
    """(text, level) for the status bar; level is ok, busy or bad."""
    S = ev.ConnState
    if c.state == S.LIVE:
        return "● connected", "ok"
    if c.state == S.CATCHING_UP:
        return f"◌ catching up: {c.behind} behind", "busy"
    if c.state == S.CONNECTED:
        return "◌ connected, joining…", "busy"
    if c.state == S.CONNECTING:
        return f"◌ connecting to {c.detail}…", "busy"
    if c.state == S.RECONNECTING:
        retry = f" (retrying in {c.retry_in:.2g} s)" if c.retry_in is not None else ""
        return f"✕ offline: {c.detail or 'reconnecting'}{retry}", "bad"
    if c.state == S.FAILED:
        return f"✕ failed: {c.detail}", "bad"
    return str(c.state), "busy"


def users_text(u: ev.UsersListed) -> str:
    who = ", ".join(f"{text.clean(n)} ({STATE_WORDS.get(s, s)})" for n, s in u.users)
    return f"{u.total} in {text.clean(u.title)}: {who}"


def groups_text(g: ev.GroupsListed) -> str:
    if not g.groups:
        return "no groups yet: create one with the + button or /create NAME"
    return "groups: " + ", ".join(f"#{text.clean(n)} ({m} member{'s' * (m != 1)}{', private' * p}"
                                  f"{', joined' * j})" for n, p, m, j in g.groups)


def ago(ts: float, now: float) -> str:
    """How long ago ``ts`` was, in words: "just now", "5 minutes ago", "3 hours ago", "2 days ago",
    or the date beyond a week (a clock a little off the broker's reads as "just now", not "in 1 minute")."""
    seconds = now - ts
    if seconds < 60:
        return "just now"
    for unit, size, limit in (("minute", 60, 3600), ("hour", 3600, 86400), ("day", 86400, 7 * 86400)):
        if seconds < limit:
            n = int(seconds // size)
            return f"{n} {unit}{'s' * (n != 1)} ago"
    return time.strftime("on %Y-%m-%d", time.localtime(ts))


def device_seen(d: ev.Device, now: float) -> str:
    """The devices dialog's "last seen" column."""
    return "online now" if d.online else f"last seen {ago(d.last_seen, now)}"


def device_added(d: ev.Device) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(d.created))


def link_validity(expires: float, now: float) -> str:
    """"valid for 10 minutes (until 14:32)" for a link code, or that it has expired."""
    left = expires - now
    if left <= 0:
        return "This code has expired: make a new one (Ctrl+L)."
    minutes = max(1, round(left / 60))
    return f"Valid for {minutes} minute{'s' * (minutes != 1)} (until {text.clock(expires)}), and only once."
