"""Words both frontends draw with: safe text, times, conversation labels, presence phrases.

Pure functions shared by the terminal and the Tk client so the two say the same thing
the same way; no terminal or toolkit imports here.
"""
from __future__ import annotations

import re
import time
import zlib
from typing import Sequence, TypeVar

from zchat.events import CONTROL_RE

T = TypeVar("T")

PRESENCE_WORDS = {"joined": "joined", "back": "is back", "lost": "lost connection", "left": "left",
                  "timed_out": "timed out"}
STATE_WORDS = {"online": "online", "lost": "lost connection", "away": "away"}


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
