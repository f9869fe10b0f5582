"""Words and symbols the Tk client draws: pure functions, no tkinter, no sockets.

Kept apart from the widgets so they can be tested without a display and shared by the
join screen, the main window and the screenshot script.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from zchat import events as ev
from zchat.frontends import text
from zchat.frontends.text import STATE_WORDS
from zchat.frontends.text import seen_text as seen_text  # the words both frontends say
from zchat.frontends.text import typing_text as typing_text

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
    ("Ctrl+F", "search every conversation; a result shows where it was said"),
    ("right-click a message", "reply, react, edit or delete it (edit and delete: your own)"),
    ("● ◑ ⊖ ◐ ○ ?", "people: online, away, do not disturb, lost connection, offline, unknown (you are offline)"),
)
MENTION_RE = re.compile(r"@[A-Za-z0-9][A-Za-z0-9_-]*")     # an @name; drawn as a mention when the core named it
QUOTE_CHARS = 60                   # of the answered line, in the quote above a reply


@dataclass(frozen=True, slots=True)
class Line:
    """One drawn line of a transcript. ``style``: msg, own, event, info, error, marker, history.
    ``cmid`` and ``status`` (sending, sent, failed with ``reason``) mark a line typed in this window.
    A chat line also carries what protocol 3 adds: an action (/me), the quote of the line it answers
    (``reply``: "bob: the start of it"), edited, deleted (a tombstone), its reactions, whether it
    mentions this user (highlighted) and the @names in it, and, under this user's last line, who has
    seen it."""
    style: str
    text: str
    ts: float | None = None
    sender: str = ""
    seq: int = 0
    cmid: str = ""
    status: str = ""
    reason: str = ""
    action: bool = False
    reply: str = ""
    edited: bool = False
    deleted: bool = False
    reactions: ev.Reactions = ()
    mention: bool = False
    mentions: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()


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
    if m.kind not in ("msg", "me"):
        return Line("event", f"{text.clean(m.sender)} {text.clean(m.text, indent=6)}", m.ts, seq=m.seq)
    style = "history" if m.history else "own" if m.own else "msg"
    reply = ""
    if m.reply_to:
        quoted = text.clean(m.reply_text).replace("\n", " ")
        quoted = quoted if len(quoted) <= QUOTE_CHARS else quoted[:QUOTE_CHARS - 1] + "…"
        reply = f"{text.clean(m.reply_sender)}: {quoted}" if m.reply_sender else quoted or "a message"
    return Line(style, text.clean(m.text, indent=6), m.ts, text.clean(m.sender), m.seq, action=m.kind == "me",
                reply=reply, edited=m.edited, deleted=m.deleted, reactions=m.reactions, mention=m.mention,
                mentions=m.mentions)


def changed_line(line: Line, c: ev.MessageChanged) -> Line:
    """``line`` as it reads after an edit, a deletion or a reaction (the core sends the whole new state)."""
    return replace(line, text=text.clean(c.text, indent=6), edited=c.edited, deleted=c.deleted,
                   reactions=c.reactions, mention=c.mention, mentions=c.mentions)


def mention_pieces(body: str, names: tuple[str, ...]) -> list[tuple[str, bool]]:
    """``body`` cut into (piece, is_mention): each @name the core found in it on its own."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in MENTION_RE.finditer(body):
        if m.group()[1:].lower() not in names:
            continue
        if m.start() > pos:
            out.append((body[pos:m.start()], False))
        out.append((m.group(), True))
        pos = m.end()
    if pos < len(body) or not out:
        out.append((body[pos:], False))
    return out


def reaction_text(emoji: str, names: tuple[str, ...], shown: int = 3) -> str:
    """One reaction, aggregated: "👍 2 bob, carol" (the first ``shown`` names, then "+N")."""
    who = ", ".join(text.clean(n) for n in names[:shown]) + (f" +{len(names) - shown}" if len(names) > shown else "")
    return f"{text.clean(emoji)} {len(names)} {who}"


def counts_text(unread: int, mentions: int) -> str:
    """"3 unread, 1 mention" for the window title ("" when there is nothing)."""
    parts = [f"{unread} unread"] if unread else []
    if mentions:
        parts.append(f"{mentions} mention{'s' * (mentions != 1)}")
    return ", ".join(parts)


def notification_text(n: ev.Notification) -> tuple[str, str]:
    """(title, body) of a desktop notification."""
    where = "a direct message" if n.reason == "dm" else conv_label(n.conv, n.title).replace("# ", "#")
    if n.missed and n.count > 1:
        head = f"{n.count} {'messages' if n.reason == 'dm' else 'mentions'} while you were away in {where}"
    elif n.reason == "dm":
        head = f"{text.clean(n.sender)} wrote to you"
    else:
        head = f"{text.clean(n.sender)} mentioned you in {where}"
    return head, f"{text.clean(n.sender)}: {text.clean(n.text)}"


def state_words(state: str, status: str = "") -> str:
    """"away: lunch", "do not disturb", "online"."""
    word = STATE_WORDS.get(state, state)
    return f"{word}: {text.clean(status)}" if status else word


def presence_line(p: ev.PresenceChanged) -> Line:
    if p.reason in ("set", "idle"):                   # a chosen state: "bob is away: lunch", "bob is online"
        phrase = f"is {state_words(p.state, p.status)}" + (" (idle)" if p.reason == "idle" else "")
    else:
        phrase = text.presence_phrase(p.reason)
    return Line("event", f"{text.clean(p.name)} {phrase}", time.time())


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
