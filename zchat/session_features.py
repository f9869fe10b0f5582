"""The client session's protocol 3 actions: edit, delete, reply, react and /me; the account's
presence (away, back, dnd, and going away by itself when idle); typing notices; search; group
topics and moderation.

Part of :class:`zchat.session.ClientSession` (a mixin; the session owns the state named in
zchat.session_parts), kept apart so each module stays small. Each action checks what it can
here (a seq to act on, a group to act in) and says what is wrong as ``CommandFailed``; the broker
decides the rest and its refusals arrive the same way.
"""
from __future__ import annotations

from zchat import events as ev
from zchat import protocol as p
from zchat.session_parts import ConvState, SessionPart

TYPING_EVERY = 3.0        # seconds between typing notices for one conversation while its user types
IDLE_AFTER = 300.0        # seconds without a user action before the session says it is idle (away)


class Features(SessionPart):
    # ---------------------------------------------------------------- lines
    def _target(self, conv: str | None, seq: int | None, what: str) -> tuple[ConvState, int] | None:
        """The conversation (default: current) and the line (default: this user's last one there)."""
        state = self.convs.get(conv or self.current)
        if seq is None and state is not None and any(s.conv == state.conv for s in self.outbox.values()):
            self._fail("usage", f"your last line here is still on its way: {what} it in a moment, or give its "
                       "number (SEQ)", what)
            return None
        line = seq if seq is not None else (state.my_last if state else 0)
        if state is None or not line:
            self._fail("usage", f"no line of yours here to {what}: give its number (SEQ)", what)
            return None
        return state, line

    def edit(self, text: str, seq: int | None = None, conv: str | None = None) -> str | None:
        target = self._target(conv, seq, "edit")
        text = p.strip_controls(text)
        if target is None or not self._fits(text, "edit"):
            return None
        return self._request("edit", p.Edit, conv=target[0].conv, seq=target[1], text=text)

    def delete(self, seq: int | None = None, conv: str | None = None) -> str | None:
        target = self._target(conv, seq, "delete")
        if target is None:
            return None
        return self._request("delete", p.Delete, conv=target[0].conv, seq=target[1])

    def reply(self, seq: int, text: str, conv: str | None = None) -> str | None:
        return self.send(text, conv, reply_to=seq)

    def me(self, action: str, conv: str | None = None) -> str | None:
        return self.send(action, conv, kind=p.MessageKind.ME)

    def react(self, seq: int, emoji: str, conv: str | None = None) -> str:
        return self._request("react", p.React, conv=conv or self.current, seq=seq, emoji=emoji.strip())

    def _fits(self, text: str, what: str) -> bool:
        limit = self.limits.max_text_bytes if self.limits else p.MAX_TEXT_BYTES
        if len(text.encode("utf-8", "replace")) > limit:
            self._fail("too_large", f"message too long: at most {limit} bytes", what)
            return False
        return True

    def context(self, conv: str, seq: int, count: int = 5) -> str:
        """The line ``seq`` of ``conv`` with ``count`` lines on each side (a search hit in its place)."""
        return self._request("show_history", p.History, conv=conv, before=seq + count + 1, limit=2 * count + 1)

    # ---------------------------------------------------------------- presence
    def set_status(self, state: str, text: str = "", auto: bool = False) -> str:
        """away/back/dnd (the user), or idle/active (``auto``: the idle timer)."""
        return self._request("status", p.SetStatus, (state, text, auto), state=state,
                             text=p.strip_controls(text).replace("\n", " ").strip(), auto=auto)

    def _own_status(self, state: str, text: str, idle: bool = False) -> None:
        """This account's chosen state, learnt from the broker (set here, on another device, or idle)."""
        if not idle and (state, text) != (self.chosen, self.chosen_text):
            self.chosen, self.chosen_text = state, text
            self._event(ev.StatusChanged(state=state, text=text))
        elif idle:
            self._event(ev.StatusChanged(state=state, text=text, idle=True))

    def user_active(self, now: float) -> None:
        """The user did something: not idle (the idle timer's away ends)."""
        self.last_active = now
        if self.idle_sent:
            self.idle_sent = False
            if self.joined:
                self.set_status(p.ChosenState.ONLINE, auto=True)

    def check_idle(self, now: float) -> None:
        if (self.idle_after and not self.idle_sent and self.joined and now - self.last_active >= self.idle_after):
            self.idle_sent = True
            self.set_status(p.ChosenState.AWAY, auto=True)

    # ---------------------------------------------------------------- typing
    def typing(self, now: float, conv: str | None = None) -> str | None:
        """The user typed a key in ``conv`` (default: current): a notice, at most every TYPING_EVERY."""
        key = conv or self.current
        if not self.joined or now < self.typing_sent.get(key, 0.0) or key not in self.convs:
            return None
        self.typing_sent[key] = now + TYPING_EVERY
        return self._request("typing", p.Typing, conv=key)

    # ---------------------------------------------------------------- search
    def search(self, query: str, before: int | None = None) -> str | None:
        """Search every conversation this user may read; ``query`` "" with no ``before``: the next page
        of the last search."""
        if not query.strip():
            if self.search_cursor is None:
                self._fail("usage", "nothing more to show: /search WORDS starts a search", "search")
                return None
            query, before = self.search_query, self.search_cursor
        self.search_query = query.strip()
        return self._request("search", p.Search, query, query=self.search_query, before=before)

    def _on_search(self, page: p.SearchPage) -> None:
        self.search_cursor = page.cursor
        hits = tuple(ev.SearchHit(conv=m.conv, title=self.convs[m.conv].title if m.conv in self.convs else
                                  p.conv_title(m.conv, self.user), seq=m.seq, ts=m.ts, sender=m.sender, text=m.text,
                                  kind=m.kind, edited=m.edited is not None) for m in page.results)
        self._event(ev.SearchResults(query=page.query, results=hits, cursor=page.cursor, partial=bool(page.partial)))

    # ---------------------------------------------------------------- groups
    def _group_of(self, group: str | None, what: str) -> str | None:
        key = p.group_key(group) if group else self.current
        if p.conv_kind(key) != p.ConvKind.GROUP:
            self._fail("usage", f"/{what} works in a group: switch to one, or name it", what)
            return None
        return key[2:]

    def set_topic(self, topic: str, group: str | None = None) -> str | None:
        name = self._group_of(group, "topic")
        if name is None:
            return None
        return self._request("set_topic", p.SetTopic, group=name, topic=p.strip_controls(topic).replace("\n", " "))

    def show_topic(self, group: str | None = None) -> None:
        name = self._group_of(group, "topic")
        if name is not None:
            conv = self.convs.get(p.group_key(name))
            topic = conv.topic if conv else ""
            self._event(ev.Info(text=f"topic of #{name}: {topic}" if topic else f"#{name} has no topic"))

    def moderate(self, action: str, name: str, group: str | None = None) -> str | None:
        """kick, ban, unban, op, deop or owner ``name`` in ``group`` (default: the current one)."""
        where = self._group_of(group, action)
        if where is None:
            return None
        return self._request("moderate", p.Moderate, (action, name, where), group=where, action=action,
                             name=name)
