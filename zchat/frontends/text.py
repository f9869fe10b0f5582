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
