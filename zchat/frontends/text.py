"""Words both frontends draw with: safe text, times, conversation labels, presence phrases.

Pure functions shared by the terminal and the Tk client so the two say the same thing
the same way; no terminal or toolkit imports here.
"""
from __future__ import annotations

import re
import shlex
import time
import zlib
from collections.abc import Sequence
from typing import TypeVar

from zchat.events import CONTROL_RE, Device

T = TypeVar("T")

PRESENCE_WORDS = {"joined": "joined", "back": "is back", "lost": "lost connection", "left": "left",
                  "timed_out": "timed out"}
STATE_WORDS = {"online": "online", "away": "away", "dnd": "do not disturb", "lost": "lost connection",
               "offline": "offline"}


def clean(text: str, indent: int = 4) -> str:
    """Text from others, safe to draw: no escape sequences or other control characters, and
    continuation lines indented so no line can pass for another sender's."""
    text = text.replace("\r\n", "\n").replace("\t", "    ")
    text = CONTROL_RE.sub("", text)
    return text.replace("\n", "\n" + " " * indent)


def clock(ts: float | None = None) -> str:
    """"HH:MM" in local time; ``ts`` in seconds (or milliseconds) since the epoch, None for now."""
    if ts is None:
        ts = time.time()
    elif ts > 1e11:
        ts /= 1000
    return time.strftime("%H:%M", time.localtime(ts))


def conv_label(conv: str, title: str, gap: str = "") -> str:
    """"everyone", "@bob" for a DM, "#team" for a group (``gap`` goes after the sigil)."""
    if conv.startswith("dm:"):
        return f"@{gap}{clean(title)}"
    if conv.startswith("g:"):
        return f"#{gap}{clean(title)}"
    return "everyone"


def presence_phrase(reason: str) -> str:
    return PRESENCE_WORDS.get(reason, f"is {reason}")


def nick_colour(name: str, palette: Sequence[T]) -> T:
    """The colour of ``name``: the same in every run and every frontend (a CRC of the name without
    case, not ``hash()``, which changes per process), so people can be told apart at a glance."""
    return palette[zlib.crc32(name.lower().encode("utf-8")) % len(palette)]


def mentions(text: str, name: str | None) -> bool:
    """Whether ``text`` names ``name`` as a word ("bob", "@Bob:", not "bobby"), without regard to case."""
    if not name:
        return False
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None


# ---------------------------------------------------------------- devices (one account, several devices)
def stamp(ts: float) -> str:
    """"YYYY-MM-DD HH:MM" in local time, for what may be days old (a device's creation)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def valid_for(expires: float, now: float | None = None) -> str:
    """"valid 10 minutes": how long a link code is still good, in whole minutes (rounded, at least 1
    while it is good), or "expired"."""
    left = expires - (time.time() if now is None else now)
    if left <= 0:
        return "expired"
    minutes = max(1, round(left / 60))
    return f"valid {minutes} minute{'' if minutes == 1 else 's'}"


def link_code_text(code: str, expires: float, now: float | None = None) -> str:
    """"link code: 7Q2M-9KXD-4TRA (valid 10 minutes)", the words issue 13 asks for."""
    return f"link code: {clean(code)} ({valid_for(expires, now)})"


def link_hint(name: str | None, code: str, server: str | None = None) -> list[str]:
    """How to use a link code, one line each: the command to run on the new device (with this
    device's ``--server`` on its own line when it was given one, quoted for a POSIX shell) and why
    the code is a secret."""
    lines = [f"on the new device run: python -m zchat --name {shlex.quote(clean(name or 'NAME'))} "
             f"--link {shlex.quote(clean(code))}"]
    if server:
        lines.append(f"with this device's server: --server {shlex.quote(clean(server))}")
    return lines + ["the code adds one device to your account: keep it secret"]


def device_rows(devices: Sequence[Device]) -> list[tuple[str, str, str, str]]:
    """/devices as a table: a header, then (name, created, last seen or "online now", "(this device)"
    for the device asking, else "") per device."""
    return [("NAME", "CREATED", "LAST SEEN", "")] + [
        (clean(d.name), stamp(d.created), "online now" if d.online else stamp(d.last_seen),
         "(this device)" if d.current else "") for d in devices]


def aligned(rows: Sequence[Sequence[str]], gap: int = 2) -> list[str]:
    """``rows`` as lines of left-aligned columns ``gap`` spaces apart, for a monospaced font."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return [(" " * gap).join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows]


# ---------------------------------------------------------------- protocol 3: lines that change, awareness
# Pure words for issue 15's features, so the terminal and Tk clients say them the same way.
QUOTE_CHARS = 60        # how much of the answered line a reply quotes
HIT_CHARS = 80          # how much of a search hit's line is shown


def seq_tag(seq: int) -> str:
    """"#12": how a line's number (what /reply, /react, /edit and /delete take) is written."""
    return f"#{seq}"


def shorten(text: str, chars: int) -> str:
    """``text`` on one line, cut to ``chars`` characters with "…" when longer."""
    flat = " ".join(clean(text, indent=0).split())
    return flat if len(flat) <= chars else flat[:chars - 1].rstrip() + "…"


def quote(sender: str, text: str, chars: int = QUOTE_CHARS) -> str:
    """"↳ bob: the first 60 characters…": what a reply answers."""
    return f"↳ {clean(sender)}: {shorten(text, chars) or 'message deleted'}"


def reactions_text(reactions: Sequence[tuple[str, Sequence[str]]]) -> str:
    """"👍 2 (bob, carol)  🎉 1 (dave)": each emoji, how many and who, in the order first made; "" for none."""
    return "  ".join(f"{clean(emoji)} {len(names)} ({', '.join(clean(n) for n in names)})"
                     for emoji, names in reactions if names)


def state_text(state: str, status: str = "", idle: bool = False) -> str:
    """A presence state in words, with its status text: "away: lunch", "away (idle)", "do not disturb"."""
    words = STATE_WORDS.get(state, clean(state))
    if status:
        words += f": {clean(status)}"
    return words + (" (idle)" if idle else "")


def being(state: str, status: str = "", idle: bool = False) -> str:
    """What follows "is" / "you are": "away: lunch", "on do not disturb", "online"."""
    return ("on " if state == "dnd" else "") + state_text(state, status, idle)


def presence_text(name: str, state: str, reason: str, status: str = "") -> str:
    """One presence change as a line: "bob joined", "bob is away: lunch", "bob is online again"."""
    who = clean(name)
    if reason not in ("set", "idle"):
        return f"{who} {presence_phrase(reason)}"
    if state == "online":
        return f"{who} is online again"
    return f"{who} is {being(state, status, idle=reason == 'idle')}"


def change_text(by: str, seq: int, change: str, text: str = "", mine: Sequence[str] = (),
                reactions: Sequence[tuple[str, Sequence[str]]] = ()) -> str:
    """A line that changed, as a line of its own (a terminal cannot rewrite what scrolled by):
    "bob edited #12: new text", "bob deleted #12", "carol reacted 👍 to #12 (👍 2 (bob, carol))",
    "carol took back a reaction to #12". ``mine``: the emojis ``by`` has on the line now."""
    who, tag = clean(by), seq_tag(seq)
    if change == "edit":
        return f"{who} edited {tag}: {shorten(text, HIT_CHARS)}"
    if change == "delete":
        return f"{who} deleted {tag}"
    now = reactions_text(reactions)
    if mine:
        return f"{who} reacted {' '.join(clean(e) for e in mine)} to {tag}" + (f" ({now})" if now else "")
    return f"{who} took back a reaction to {tag}" + (f" ({now})" if now else "")


def reacted_with(by: str, reactions: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """The emojis ``by`` has on a line (``reactions`` as the core gives them)."""
    return [emoji for emoji, names in reactions if any(n.lower() == by.lower() for n in names)]


def notification_text(sender: str, reason: str, where: str, seq: int, missed: bool = False,
                      count: int = 1) -> str:
    """What a notification says: "bob mentioned you in #dev (#12)", "bob sent you a direct message (#3)",
    or for lines that came while away: "3 lines for you in #dev while you were away"."""
    if missed:
        return f"{count} line{'' if count == 1 else 's'} for you in {where} while you were away"
    if reason == "dm":
        return f"{clean(sender)} sent you a direct message ({seq_tag(seq)})"
    return f"{clean(sender)} mentioned you in {where} ({seq_tag(seq)})"


def typing_text(names: Sequence[str]) -> str:
    """"bob is typing…", "bob and carol are typing…", "3 people are typing…"; "" for nobody (both
    frontends say these words)."""
    names = [clean(n) for n in names]
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return f"{len(names)} people are typing…"


def seen_text(names: Sequence[str]) -> str:
    """"seen by carol, dave" (read receipts under your last line); "" when nobody has seen it yet."""
    return f"seen by {', '.join(clean(n) for n in names)}" if names else ""


def topic_text(topic: str) -> str:
    return f"topic: {clean(topic, indent=0)}" if topic else "no topic"


def search_header(query: str, found: int, more: bool, partial: bool) -> str:
    """"search "lunch": 3 lines, newest first (more: /search)"."""
    head = f'search "{clean(query)}": {found} line{"" if found == 1 else "s"}'
    if found:
        head += ", newest first"
    if more:
        head += " (more: /search)"
    if partial:
        head += " (the index is catching up: search again soon for the newest)"
    return head


def hit_text(where: str, seq: int, ts: float, sender: str, text: str) -> str:
    """One search hit: "12:01 #dev #14 bob: lunch at 12?"."""
    return f"{clock(ts)} {where} {seq_tag(seq)} {clean(sender)}: {shorten(text, HIT_CHARS)}"
