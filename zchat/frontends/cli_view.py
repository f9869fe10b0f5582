"""What the terminal client knows and how it writes each event as text, for both of its modes.

:class:`View` follows the events (current conversation, connection state, unread counts, the
names and groups seen, for completion) and :meth:`View.apply` turns one event into the lines
to print: ``HH:MM [conversation] sender: text``. Pure code: no terminal, no prompt_toolkit.
"""
from __future__ import annotations

from zchat import events as ev
from zchat.frontends.text import (
    aligned,
    being,
    change_text,
    clean,
    clock,
    conv_label,
    device_rows,
    hit_text,
    link_code_text,
    link_hint,
    notification_text,
    presence_text,
    quote,
    reacted_with,
    reactions_text,
    search_header,
    seen_text,
    seq_tag,
    state_text,
    topic_text,
    typing_text,
)

MISSED_WORDS = "messages you missed while away"
MISSED_HEADER = f"-- {MISSED_WORDS} --"


def _starred(lines: list[str]) -> list[str]:
    return [f"* {lines[0]}", *lines[1:]]


def _seconds(value: float | None) -> str:
    return f"{value:.2g} s" if value is not None else "a moment"


def message_body(m: ev.MessageReceived) -> str:
    """A line as plain text after its place: "alice: text", "* alice waves", "bob: [↳ alice: …] text
    (edited)  [👍 1 (carol)]", "bob: message deleted"."""
    if m.kind in (ev.MessageKind.EVENT, ev.MessageKind.ME):
        body = f"* {clean(m.sender)} {clean(m.text)}"
    else:
        reply = f"[{quote(m.reply_sender, m.reply_text)}] " if m.reply_to and not m.deleted else ""
        body = f"{clean(m.sender)}: {reply}{'message deleted' if m.deleted else clean(m.text)}"
    if m.edited and not m.deleted:
        body += " (edited)"
    reactions = reactions_text(m.reactions)
    return body + (f"  [{reactions}]" if reactions and not m.deleted else "")


class View:
    """The client's state as the terminal shows it; ``apply(event)`` returns the lines to print."""

    def __init__(self, server: str | None = None) -> None:
        self.server = server               # the --server given, for the command a link code is used with
        self.name: str | None = None
        self.joined = False
        self.state = "offline"             # the connection, as words for the status line
        self.ever_connected = False
        self.current = "all"
        self.convs: dict[str, ev.Conversation] = {}
        self.users: set[str] = set()
        self.groups: set[str] = set()
        self.devices: set[str] = set()     # this account's other devices, as /devices last listed them
        self.in_missed = False             # the last message line printed was a missed one

    # ---------------------------------------------------------------- for the prompt and status line
    def current_label(self) -> str:
        conv = self.convs.get(self.current)
        return conv_label(self.current, conv.title if conv else self.current.rpartition(":")[2])

    def unread(self) -> list[tuple[str, int]]:
        return [(conv_label(c.conv, c.title), c.unread) for c in self.convs.values()
                if c.unread and c.conv != self.current]

    def status(self) -> str:
        """"#dev | live | unread: everyone 3 @1, @bob 1 @1": @N counts the unread lines for you apart."""
        parts = [self.current_label() if self.joined else "not joined", self.state]
        mentions = {conv_label(c.conv, c.title): c.mentions for c in self.convs.values()}
        unread = ", ".join(f"{label} {n}" + (f" @{mentions[label]}" if mentions.get(label) else "")
                           for label, n in self.unread())
        parts.append(f"unread: {unread}" if unread else "no unread")
        return " | ".join(parts)

    def _saw_user(self, name: str) -> None:
        if name and (self.name is None or name.lower() != self.name.lower()):
            self.users.add(name)

    # ---------------------------------------------------------------- one event -> lines
    def notice(self, event: ev.Event) -> list[str]:
        """The words of an event that is not a chat line (an error, a list, a command's outcome), one
        string per line, without the marks each mode puts in front; [] for other events. Both modes
        say the same thing: plain mode prints these, the full-screen mode adds them to a buffer."""
        match event:
            case ev.JoinFailed(name=name, message=message):
                return [f"cannot join as {clean(name)}: {clean(message)}"]
            case ev.CommandFailed(message=message):
                return [clean(message)]
            case ev.Info(text=text):
                return text.splitlines() or [""]
            case ev.GroupsListed(groups=groups):
                if not groups:
                    return ["no groups yet: /create GROUP makes one"]
                topics = dict(event.topics)
                return [f"groups ({len(groups)}):"] + [
                    f"    #{clean(name)}{' (private)' if private else ''}: {members} member"
                    f"{'' if members == 1 else 's'}{', joined' if joined else ''}"
                    f"{'; ' + topic_text(topics[name]) if topics.get(name) else ''}"
                    for name, private, members, joined in groups]
            case ev.UsersListed(conv=conv, title=title, users=users, total=total, details=details):
                more = f" (showing {len(users)})" if total > len(users) else ""
                rows = details or tuple((name, state, "", "") for name, state in users)
                return [f"users in {conv_label(conv, title)}: {total}{more}"] + [
                    f"    {clean(name)} ({state_text(state, status)}){f' {clean(role)}' if role else ''}"
                    for name, state, status, role in rows]
            case ev.Invited(group=group, by=by):
                return [f"{clean(by)} invited you to #{clean(group)}: /join {clean(group)}"]
            case ev.Left(reason=reason):
                return [clean(reason)]
            case ev.LinkCodeMade(code=code, expires=expires):
                hint = link_hint(self.name, code, self.server)
                return [link_code_text(code, expires)] + ["    " + line for line in hint]
            case ev.DevicesListed(devices=devices):
                return [f"your devices ({len(devices)}):"] + [
                    "    " + row for row in aligned(device_rows(devices))]
            case ev.SearchResults(query=query, results=hits, cursor=cursor, partial=partial):
                return [search_header(query, len(hits), cursor is not None, partial)] + [
                    f"    {hit_text(conv_label(h.conv, h.title), h.seq, h.ts, h.sender, h.text)}" for h in hits]
            case ev.StatusChanged(state=state, text=text, idle=idle):
                return [f"you are {being(state, text, idle)}"]
        return []

    def where(self, conv: str, title: str = "") -> str:
        """A conversation's label ("everyone", "@bob", "#dev"), its title looked up when not given."""
        known = self.convs.get(conv)
        return conv_label(conv, title or (known.title if known else conv.rpartition(":")[2]))

    def change_words(self, c: ev.MessageChanged) -> str:
        """A changed line as words: "bob edited #12: new text", "carol reacted 👍 to #12 (...)"."""
        return change_text(c.by, c.seq, c.change, c.text, reacted_with(c.by, c.reactions), c.reactions)

    def notification_words(self, n: ev.Notification) -> str:
        return notification_text(n.sender, n.reason, self.where(n.conv, n.title), n.seq, n.missed, n.count)

    def apply(self, event: ev.Event) -> list[str]:
        match event:
            case ev.MessageReceived():
                return self._message(event)
            case ev.PresenceChanged(name=name, state=state, reason=reason, status=status):
                self._saw_user(name)
                return [f"{clock()} * {presence_text(name, state, reason, status)}"]
            case ev.MessageChanged(conv=conv, title=title):
                return [f"{clock()} [{self.where(conv, title)}] * {self.change_words(event)}"]
            case ev.Notification():
                return [f"\a{clock()} ! {self.notification_words(event)}"]     # the bell, then the line
            case ev.Typing(conv=conv, name=name, active=active):
                return [f"{clock()} [{self.where(conv)}] * {typing_text([name])}"] if active else []
            case ev.ReadBy(conv=conv, seq=seq, names=names):
                return [f"{clock()} [{self.where(conv)}] * {seq_tag(seq)} {seen_text(names)}"] if names else []
            case ev.SearchResults() | ev.StatusChanged():
                return _starred(self.notice(event))
            case ev.ConversationsChanged(conversations=convs, current=current):
                changed = current != self.current
                self.convs = {c.conv: c for c in convs}
                self.current = current
                for c in convs:
                    if c.kind == ev.ConvKind.GROUP:
                        self.groups.add(c.title)
                    elif c.kind == ev.ConvKind.DM:
                        self._saw_user(c.title)
                if not (changed and self.joined):
                    return []
                topic = self.convs[current].topic if current in self.convs else ""
                return [f"* talking in {self.current_label()}" + (f" ({topic_text(topic)})" if topic else "")]
            case ev.ConnectionChanged():
                return self._connection(event)
            case ev.Joined(name=name, resumed=resumed, conversations=convs):
                self.name, self.joined = name, True
                self.convs = {c.conv: c for c in convs}
                self.groups.update(c.title for c in convs if c.kind == ev.ConvKind.GROUP)
                return [f"* joined as {clean(name)}" + (" (resumed)" if resumed else "")]
            case ev.JoinFailed() | ev.CommandFailed():
                if isinstance(event, ev.JoinFailed):
                    self.state = "offline"     # that client is closed; the next name gets a new one
                first, *rest = self.notice(event)
                return [f"! {first}", *rest]
            case ev.Info():
                return self.notice(event)
            case ev.GroupsListed(groups=groups):
                self.groups.update(g[0] for g in groups)
                return _starred(self.notice(event))
            case ev.UsersListed(users=users):
                for name, _ in users:
                    self._saw_user(name)
                return _starred(self.notice(event))
            case ev.Invited(group=group):
                self.groups.add(group)
                return [f"{clock()} * {self.notice(event)[0]}"]
            case ev.LinkCodeMade():
                return _starred(self.notice(event))
            case ev.DevicesListed(devices=devices):
                self.devices = {d.name for d in devices if not d.current}
                return _starred(self.notice(event))
            case ev.Left():
                self.joined = False
                return _starred(self.notice(event))
        return []

    def _message(self, m: ev.MessageReceived) -> list[str]:
        self._saw_user(m.sender)
        lines = []
        if m.missed and not self.in_missed:
            lines.append(MISSED_HEADER)
        self.in_missed = m.missed
        mark = "(missed) " if m.missed else "(history) " if m.history else ""
        lines.append(f"{mark}{clock(m.ts)} {seq_tag(m.seq)} [{conv_label(m.conv, m.title)}] {message_body(m)}")
        return lines

    def _connection(self, c: ev.ConnectionChanged) -> list[str]:
        match c.state:
            case ev.ConnState.CONNECTING:
                self.state = "connecting"
                return [f"* connecting to {clean(c.detail)}" if c.detail else "* connecting"]
            case ev.ConnState.CONNECTED:
                self.state, self.ever_connected = "connected", True
                return []       # "joined as" or "live" follows at once
            case ev.ConnState.RECONNECTING:
                self.state = f"reconnecting in {_seconds(c.retry_in)}"
                cause = clean(c.detail) if c.detail else "connection lost"
                if self.ever_connected:
                    cause = "connection lost" + (f" ({cause})" if c.detail else "")
                return [f"* {cause}; reconnecting in {_seconds(c.retry_in)}"]
            case ev.ConnState.CATCHING_UP:
                self.state = f"catching up: {c.behind} behind"
                return [f"* catching up: {c.behind} behind"]
            case ev.ConnState.LIVE:
                self.state = "live"
                return ["* live"]
            case ev.ConnState.FAILED:
                self.state = "failed"
                return [f"! connection failed: {clean(c.detail)}"]
        self.state = c.state
        return [f"* {clean(c.state)}"]
