"""The Client's argument checks, run in the caller's thread before anything is queued.

A bad value found later, on the I/O thread, could only be reported as an event nobody connects
with the call (or, before these checks, kill the thread: ``client.send(123)``). Each check
returns the value (normalised where that loses nothing) or raises TypeError or ValueError with a
sentence naming the argument.
"""
from __future__ import annotations

from zchat import protocol as p


def string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def name(value: object, what: str = "name") -> str:
    """A user or group name by the protocol's rule (no '@' or '#' in front)."""
    try:
        return p.check_name(string(value, what), what)
    except p.ProtocolError as exc:
        raise ValueError(exc.message) from None


def link_code(value: object) -> str | None:
    """A link code as typed (XXXX-XXXX-XXXX; dashes, spaces and case do not matter), or None."""
    if value is None:
        return None
    code = "".join(ch for ch in string(value, "link").upper() if ch.isalnum())
    if len(code) != 12 or not code.isascii():
        raise ValueError(f"{value!r} is not a link code: 12 letters and digits, as XXXX-XXXX-XXXX")
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def conv(value: object, what: str = "conv") -> str | None:
    if value is None:
        return None
    key = string(value, what)
    if not p.is_conversation_key(key):
        raise ValueError(f"{what} {value!r} is not a conversation key (\"all\", \"dm:alice:bob\", \"g:team\")")
    return key


def unicode(text: str, what: str) -> str:
    """``text`` as valid Unicode: surrogate pairs (as some Tk builds deliver emoji) are joined."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise ValueError(f"{what} holds a lone surrogate code point: it is not Unicode text") from None


def text(value: object, what: str = "text") -> str:
    """A message's text: not empty, at most MAX_TEXT_BYTES of UTF-8 (the broker may allow less)."""
    checked = unicode(string(value, what), what)
    if not checked.strip():
        raise ValueError(f"{what} is empty: nothing to send")
    size = len(checked.encode("utf-8"))
    if size > p.MAX_TEXT_BYTES:
        raise ValueError(f"{what} is {size} bytes of UTF-8; a message holds at most {p.MAX_TEXT_BYTES}")
    return checked


def number(value: object, what: str, low: float, high: float | None = None, kind: type = int) -> None:
    """An int (``kind=float``: any real number; never a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise TypeError(f"{what} must be {'a number' if kind is float else 'an int'}, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{what} must be from {low} to {high}" if high is not None else f"{what} must be >= {low}")
