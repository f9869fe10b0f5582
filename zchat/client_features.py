"""The Client's methods for protocol 3's chat features: edit, delete, reply, react, /me, presence,
typing, search, group topics and moderation.

A mixin of :class:`zchat.client.Client` (which provides ``_do``), kept apart so each module stays
small. Like every Client method, each checks its arguments in the caller's thread (TypeError,
ValueError: zchat.client_checks), queues the work for the I/O thread and returns at once; what
happens arrives as events. Frontends call these, never build "/cmd" strings.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from zchat import client_checks as check
from zchat import protocol as p

if TYPE_CHECKING:
    from zchat.session import ClientSession


def _seq(value: object, what: str = "seq") -> int:
    check.number(value, what, 1, p.MAX_INT)
    return value  # type: ignore[return-value]


def _short(value: object, what: str, limit: int) -> str:
    text = check.unicode(check.string(value, what), what)
    if len(text.encode()) > limit:
        raise ValueError(f"{what} is over {limit} bytes of UTF-8")
    return text


class FeatureMethods:
    if TYPE_CHECKING:
        def _do(self, action: Callable[[ClientSession], object]) -> None: ...

    # ---------------------------------------------------------------- lines
    def edit(self, text: str, seq: int | None = None, conv: str | None = None) -> None:
        """Replace the text of your line ``seq`` of ``conv`` (None: your last line in the current
        conversation). Everyone who can read it sees it change, live or when they come back.

        Answered by ``MessageChanged(change="edit")`` for the line, or ``CommandFailed`` ("usage": no
        line of yours to edit; "not_allowed": not your line; "no_such_message").

        Raises: TypeError; ValueError (empty or oversized text, seq < 1, not a conversation key); ClientClosed.
        """
        text, conv = check.text(text), check.conv(conv)
        seq = None if seq is None else _seq(seq)
        self._do(lambda s: s.edit(text, seq, conv))

    def delete(self, seq: int | None = None, conv: str | None = None) -> None:
        """Delete your line ``seq`` of ``conv`` (None: your last line in the current conversation); a
        group's owner and admins may delete any line of it. It becomes "message deleted" everywhere.

        Answered by ``MessageChanged(change="delete", deleted=True)``, or ``CommandFailed``.

        Raises: TypeError; ValueError (seq < 1, not a conversation key); ClientClosed.
        """
        conv = check.conv(conv)
        seq = None if seq is None else _seq(seq)
        self._do(lambda s: s.delete(seq, conv))

    def reply(self, seq: int, text: str, conv: str | None = None) -> None:
        """Answer line ``seq`` of ``conv`` (None: the current conversation); the reply carries a quote
        of it (``MessageReceived.reply_to``, ``reply_sender``, ``reply_text``).

        Answered like :meth:`send`; ``CommandFailed("no_such_message")`` for a line that is not there.

        Raises: TypeError; ValueError (seq < 1, empty or oversized text, not a conversation key); ClientClosed.
        """
        seq, text, conv = _seq(seq), check.text(text), check.conv(conv)
        self._do(lambda s: s.reply(seq, text, conv))

    def react(self, seq: int, emoji: str, conv: str | None = None) -> None:
        """Add your ``emoji`` (or a short word such as "+1") to line ``seq``; the same again takes it back.

        Answered by ``MessageChanged(change="react")`` with the line's reactions and who made them, or
        ``CommandFailed`` ("no_such_message", "limit_reached", "rate_limited").

        Raises: TypeError; ValueError (empty, with spaces, over 32 bytes; seq < 1); ClientClosed.
        """
        seq, emoji, conv = _seq(seq), _short(emoji, "emoji", p.MAX_EMOJI_BYTES).strip(), check.conv(conv)
        if not emoji or any(ch.isspace() for ch in emoji):
            raise ValueError("emoji must be one emoji or word, without spaces")
        self._do(lambda s: s.react(seq, emoji, conv))

    def me(self, action: str, conv: str | None = None) -> None:
        """An action line: ``me("waves")`` shows as "* alice waves" (``MessageReceived(kind="me")``).

        Answered like :meth:`send`. Raises: TypeError; ValueError (empty or oversized); ClientClosed.
        """
        action, conv = check.text(action, "action"), check.conv(conv)
        self._do(lambda s: s.me(action, conv))

    def context(self, conv: str, seq: int, count: int = 5) -> None:
        """Show line ``seq`` of ``conv`` among the ``count`` (1 to 100) lines on each side of it: where a
        search hit was said.

        Answered by ``MessageReceived(history=True)`` events, oldest first, or ``CommandFailed``.

        Raises: TypeError; ValueError (not a conversation key, seq < 1, count out of range); ClientClosed.
        """
        key = check.conv(conv)
        if key is None:
            raise TypeError("conv must be a str, not NoneType")
        seq = _seq(seq)
        check.number(count, "count", 1, 100)
        self._do(lambda s: s.context(key, seq, count))

    # ---------------------------------------------------------------- presence and typing
    def away(self, text: str = "") -> None:
        """Show everyone you are away, with an optional reason ("lunch"), until :meth:`back`.

        Answered by ``StatusChanged`` (and everyone's ``PresenceChanged``). Raises: TypeError;
        ValueError (over 128 bytes); ClientClosed.
        """
        text = _short(text, "text", p.MAX_STATUS_BYTES)
        self._do(lambda s: s.set_status(p.ChosenState.AWAY, text))

    def back(self) -> None:
        """Online again after :meth:`away` or :meth:`dnd`. Answered by ``StatusChanged``. Raises: ClientClosed."""
        self._do(lambda s: s.set_status(p.ChosenState.ONLINE))

    def dnd(self, text: str = "") -> None:
        """Do not disturb: others see it, and this client gives no ``Notification`` until :meth:`back`
        (mentions are still counted).

        Answered by ``StatusChanged``. Raises: TypeError; ValueError (over 128 bytes); ClientClosed.
        """
        text = _short(text, "text", p.MAX_STATUS_BYTES)
        self._do(lambda s: s.set_status(p.ChosenState.DND, text))

    def typing(self, conv: str | None = None) -> None:
        """Call on every key the user types in ``conv``'s input (None: the current conversation): the
        core tells the others, at most every 3 seconds; they see ``Typing(active=True)``.

        Answers nothing. Raises: TypeError; ValueError (not a conversation key); ClientClosed.
        """
        conv = check.conv(conv)
        self._do(lambda s: s.typing(time.monotonic(), conv))

    # ---------------------------------------------------------------- search
    def search(self, query: str, before: int | None = None) -> None:
        """Find lines holding every word of ``query`` in everything this user may read now, newest
        first; ``before``: the ``cursor`` of the last ``SearchResults``, for the next page.

        Answered by ``SearchResults`` (``Client.context(conv, seq)`` shows a hit in its place), or
        ``CommandFailed`` ("rate_limited").

        Raises: TypeError; ValueError (empty, over 256 bytes, or a cursor < 1); ClientClosed.
        """
        query = _short(query, "query", p.MAX_QUERY_BYTES)
        if not query.strip():
            raise ValueError("query is empty: what should be found?")
        before = None if before is None else _seq(before, "before")
        self._do(lambda s: s.search(query, before))

    # ---------------------------------------------------------------- groups
    def set_topic(self, topic: str, group: str | None = None) -> None:
        """Set ``group``'s topic (None: the current group; "" clears it); its owner and admins may.

        Answered by the event line "set the topic: ..." and ``ConversationsChanged`` (``topic``), or
        ``CommandFailed`` ("not_allowed", "usage": not in a group).

        Raises: TypeError; ValueError (over 512 bytes, an invalid group name); ClientClosed.
        """
        topic = _short(topic, "topic", p.MAX_TOPIC_BYTES)
        group = None if group is None else check.name(group, "group name")
        self._do(lambda s: s.set_topic(topic, group))

    def _moderate(self, action: str, name: str, group: str | None) -> None:
        name = check.name(name)
        group = None if group is None else check.name(group, "group name")
        self._do(lambda s: s.moderate(action, name, group))

    def kick(self, name: str, group: str | None = None) -> None:
        """Remove ``name`` from ``group`` (None: the current group); owner and admins. It may join again.

        Answered by the event line "kicked NAME", or ``CommandFailed`` ("not_allowed", "not_member").
        Raises: TypeError; ValueError (an invalid name); ClientClosed.
        """
        self._moderate(p.ModAction.KICK, name, group)

    def ban(self, name: str, group: str | None = None) -> None:
        """Remove ``name`` from ``group`` and keep them out (no join, no invitation); owner and admins.

        Answered by the event line "banned NAME", or ``CommandFailed``. Raises: TypeError; ValueError; ClientClosed.
        """
        self._moderate(p.ModAction.BAN, name, group)

    def unban(self, name: str, group: str | None = None) -> None:
        """Let a banned ``name`` into ``group`` again; owner and admins.

        Answered by the event line "unbanned NAME". Raises: TypeError; ValueError; ClientClosed.
        """
        self._moderate(p.ModAction.UNBAN, name, group)

    def op(self, name: str, group: str | None = None) -> None:
        """Make member ``name`` an admin of ``group``; its owner only.

        Answered by the event line "made NAME an admin". Raises: TypeError; ValueError; ClientClosed.
        """
        self._moderate(p.ModAction.OP, name, group)

    def deop(self, name: str, group: str | None = None) -> None:
        """Make admin ``name`` a plain member of ``group``; its owner only.

        Answered by the event line "made NAME a member". Raises: TypeError; ValueError; ClientClosed.
        """
        self._moderate(p.ModAction.DEOP, name, group)

    def make_owner(self, name: str, group: str | None = None) -> None:
        """Hand ``group`` over to member ``name`` (you stay an admin); its owner only.

        Answered by the event line "made NAME the owner". Raises: TypeError; ValueError; ClientClosed.
        """
        self._moderate(p.ModAction.OWNER, name, group)
