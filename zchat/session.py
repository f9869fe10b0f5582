"""What a client knows, without sockets: the client's h11.

:class:`ClientSession` turns user actions and broker frames into frames to send,
subscriptions to change and events for the frontend. It keeps the requests in flight, the
last seq shown per conversation (and fetches gaps: the zguide's Clone pattern), the outbox
of unacknowledged sends (resent once per reconnect with the same client message id), and
unread counts. The I/O thread in zchat.client moves its bytes; tests drive it directly.
"""
from __future__ import annotations

import itertools
from typing import Any

from zchat import events as ev
from zchat import protocol as p
from zchat.seal import KeyChain
from zchat.session_actions import Actions
from zchat.session_delivery import Delivery
from zchat.session_features import IDLE_AFTER, Features
from zchat.session_parts import ConvState

PING_AFTER = 1.0        # fraction of the heartbeat interval of silence before a ping
READ_DEBOUNCE = 0.5     # seconds between mark_read updates


class ClientSession(Actions, Delivery, Features):
    """Sans-IO state of one user's session. Call the action methods and ``receive_*``; then take
    ``frames`` (for the DEALER), ``subscribe``/``unsubscribe`` (for the SUB) and ``events``."""

    def __init__(self, name: str, link: str | None = None, device: str | None = None,
                 idle_after: float = IDLE_AFTER) -> None:
        self.name, self.user = name, p.canonical(name)
        self.link, self.device = link, device             # a link code for the first hello; this device's name
        self.joined = False
        self.welcomed_before = False
        self.pub_endpoint = ""
        self.sub_token = ""                               # the SUB presents it (a new one: a new SUB)
        self.keys = KeyChain()                            # the fan-out's keys, from welcome, oks and notices
        self._first_welcome = True
        self.resubscribe: list[bytes] = []                # topics the broker asked us to subscribe again
        self.limits: p.Limits | None = None
        self.convs: dict[str, ConvState] = {}
        self.current = p.EVERYONE
        self.pending: dict[str, tuple[str, Any]] = {}     # request id -> (what, context)
        self.outbox: dict[str, p.Send] = {}               # cmid -> send not yet acknowledged
        self.waiting: list[Any] = []                      # requests made before the welcome
        self.frames: list[bytes] = []
        self.subscribe: list[bytes] = []
        self.unsubscribe: list[bytes] = []
        self.events: list[ev.Event] = []
        self.last_sent = self.last_heard = 0.0
        self._next_read = 0.0
        self._ids = itertools.count(1)
        self._live = False
        self._synced = False                              # a heartbeat proved the subscriptions are in
        self.last_published = 0.0                         # when the SUB last brought a frame
        self.sub_stale = False                            # the SUB went silent: the I/O thread remakes it
        self.leaving = False                              # bye sent: nothing may start the session again
        self.left_convs: set[str] = set()                 # groups left: their late lines are not news
        self.paced: dict[str, float] = {}                 # conv -> when rate-limited sends may go again
        self.history_paced: dict[str, float] = {}         # conv -> when a rate-limited catch-up may go again
        self.closed: set[str] = set()                     # conversations the user closed (/close): not listed
        self.chosen, self.chosen_text = str(p.ChosenState.ONLINE), ""   # this account's chosen presence
        self.idle_after = idle_after                      # seconds without a user action before "idle" (0: never)
        self.last_active = 0.0                            # when the user last did something
        self.idle_sent = False                            # this session told the broker it is idle
        self.typing_sent: dict[str, float] = {}           # conv -> when the next typing notice may go
        self.search_query, self.search_cursor = "", None  # the last search, and where its next page starts

    # ---------------------------------------------------------------- plumbing
    def _request(self, what: str, cls: type, ctx: Any = None, **fields: Any) -> str:
        rid = str(next(self._ids))
        msg = cls(id=rid, **fields)
        if not self.joined and cls is not p.Hello:
            self.waiting.append((what, msg, ctx))
            return rid
        self.pending[rid] = (what, ctx)
        self.frames.append(p.encode(msg))
        return rid

    def _event(self, event: ev.Event) -> None:
        self.events.append(event)

    def _fail(self, code: str, message: str, command: str = "") -> None:
        self._event(ev.CommandFailed(code=code, message=message, command=command))

    def _listed(self) -> tuple[ev.Conversation, ...]:
        """The conversations a frontend lists: all but the ones the user closed."""
        return tuple(c.public() for c in self.convs.values() if c.conv not in self.closed)

    def _conv_list(self) -> None:
        self._event(ev.ConversationsChanged(conversations=self._listed(), current=self.current))

    # ---------------------------------------------------------------- connection life
    def connected(self, now: float) -> None:
        """A (new) link to the broker is up: say hello; everything else waits for the welcome."""
        if self.leaving:
            return
        self.joined = False
        self.pending.clear()
        self.last_heard = self.last_sent = now
        self.last_active = self.last_active or now
        self.idle_sent = False
        # resume this client's own session (not another device's), present a link code until it took
        self._request("hello", p.Hello, version=p.PROTOCOL_VERSION, name=self.name, resume=self.sub_token or None,
                      link=self.link, device=self.device)

    def connection_lost(self) -> None:
        """The link died: requests in flight are gone, but sends stay in the outbox for the next link."""
        self.joined = False
        self._synced = False
        self.pending.clear()
        self.frames.clear()             # what matters is redone on the next link: hello, outbox, catch-up
        for conv in self.convs.values():
            conv.fetching = False
            conv.buffer.clear()
        self._live = False

    def sub_relinked(self, now: float) -> None:
        """The I/O thread made a new SUB (its link broke, or it went silent) and subscribed it
        again: lines published meanwhile are lost, so wait for the heartbeat that proves the
        subscriptions are in; its heads start the catch-up of whatever was missed."""
        self._synced = self._live = self.sub_stale = False
        self.last_published = now
        self._event(ev.ConnectionChanged(state=ev.ConnState.CATCHING_UP, behind=0,
                                         detail="the live feed's link broke; subscribing again"))

    def tick(self, now: float) -> bool:
        """Timers: a ping when idle, debounced read marks. Returns False when the broker has been
        silent past its heartbeat timeout (the caller should reconnect)."""
        self.expire_typing(now)         # the frontend's clocks run whatever the link does
        if not self.joined or self.limits is None:
            return True
        interval = self.limits.heartbeat_interval_ms / 1000
        if now - self.last_heard > self.limits.heartbeat_timeout_ms / 1000:
            return False
        if self._synced and now - self.last_published > self.limits.heartbeat_timeout_ms / 1000:
            self.sub_stale = True       # replies come but heartbeats do not: the SUB lost its subscriptions
        for conv, when in list(self.paced.items()):
            if now >= when:
                del self.paced[conv]
                self._resend(conv)
        for key, when in list(self.history_paced.items()):
            if now >= when:
                del self.history_paced[key]
                if key in self.convs:
                    self._catch_up(self.convs[key])
        if now >= self._next_read:
            self._next_read = now + READ_DEBOUNCE
            self.flush_read_marks()
        self.check_idle(now)
        if self.current in self.convs:      # read receipts for the conversation on screen
            self.ask_read_marks(self.convs[self.current])
        if now - self.last_sent >= interval * PING_AFTER:
            self._request("ping", p.Ping)
        return True

    def flush_read_marks(self) -> None:
        """Mark read what the user has had on screen: the current conversation, up to what it shows.
        (Other conversations keep their unread lines, here and, through the read mark, on the
        account's other devices and in the next session.)"""
        conv = self.convs.get(self.current)
        if conv is not None and conv.seen > conv.read_sent and conv.seen > 0:
            conv.read_sent = conv.seen
            self._request("mark_read", p.MarkRead, conv=conv.conv, seq=conv.seen)

    # ---------------------------------------------------------------- replies
    def receive_reply(self, data: bytes, now: float) -> None:
        """A frame on the DEALER: one or more replies and notices, in order (p.unbundle)."""
        self.last_heard = now
        for part in p.unbundle(data):
            try:
                reply = p.decode_reply(part)
            except p.ProtocolError as exc:     # said, and only this part lost: the others are whole replies
                self._fail("protocol", f"the broker sent something this client cannot read ({exc.code})")
                continue
            self._on_reply(reply)

    def _on_reply(self, reply: p.Reply) -> None:
        if isinstance(reply, p.KeyChange):      # a notice: a scope's key changed
            self._learn_keys([reply])
            return
        if isinstance(reply, p.Resubscribe):
            self.resubscribe += [t.encode() for t in reply.topics]
            return
        if isinstance(reply, p.ReadMark):       # another device of ours read it
            self._read_elsewhere(reply.conv, reply.seq)
            return
        if isinstance(reply, p.Membership):     # another device of ours joined or left a group (or was made to)
            self._membership_elsewhere(reply)
            if reply.reason:
                self._event(ev.Info(text=f"you were {reply.reason}"))
            return
        if isinstance(reply, p.Ended):          # the broker ended this session for good: do not come back
            self.leaving, self.joined = True, False
            self._event(ev.Left(reason=reply.reason))
            return
        what, ctx = self.pending.pop(reply.id, ("unknown", None)) if reply.id else ("unknown", None)
        if isinstance(reply, p.Error):
            self._on_error(what, ctx, reply)
        elif isinstance(reply, p.Welcome):
            self._on_welcome(reply)
        elif isinstance(reply, p.ConversationsPage):
            if self._on_conversations(reply.conversations, reply.keys, reply.complete):
                self._conv_list()
                self._conversations_complete()
        elif isinstance(reply, p.HistoryPage):
            self._on_history(what, ctx, reply)
        elif isinstance(reply, p.Groups):     # a page: the list goes out once it is complete
            listed = (ctx or ()) + tuple((g.name, g.private, g.members, g.joined, g.topic) for g in reply.groups)
            if reply.complete or not reply.groups:
                self._event(ev.GroupsListed(groups=tuple(g[:4] for g in listed),
                                            topics=tuple((g[0], g[4]) for g in listed if g[4])))
            else:
                self._request("groups", p.ListGroups, listed, after=reply.groups[-1].name)
        elif isinstance(reply, p.LinkCode):
            self._event(ev.LinkCodeMade(code=reply.code, expires=reply.expires))
        elif isinstance(reply, p.Devices):
            self._event(ev.DevicesListed(devices=tuple(
                ev.Device(name=d.name, created=d.created, last_seen=d.last_seen, online=d.online, current=d.current)
                for d in reply.devices)))
        elif isinstance(reply, p.Users):
            title = self.convs[reply.conv].title if reply.conv in self.convs else reply.conv
            self._event(ev.UsersListed(conv=reply.conv, title=title, total=reply.total,
                                       users=tuple((u.name, u.state) for u in reply.users),
                                       details=tuple((u.name, u.state, u.status, u.role) for u in reply.users)))
        elif isinstance(reply, p.ReadMarksPage) and reply.conv in self.convs:
            for mark in reply.marks:
                self._seen(self.convs[reply.conv], mark.name, mark.seq)
            self._receipts(self.convs[reply.conv])
        elif isinstance(reply, p.SearchPage):
            self._on_search(reply)
        elif isinstance(reply, p.Ok):
            self._on_ok(what, ctx, reply)

    def _on_welcome(self, w: p.Welcome) -> None:
        self._first_welcome = not self.welcomed_before
        self.joined, self.welcomed_before = True, True
        self.name, self.pub_endpoint, self.limits = w.name, w.pub_endpoint, w.limits
        self.link, self.device = None, w.device           # the link code is used up; the broker named us
        if w.sub_token != self.sub_token:   # a new session: new keys, and the old ones are no use
            self.keys.clear()
        self.sub_token = w.sub_token
        self._own_status(w.presence, w.status)
        self.subscribe += [p.TOPIC_PRESENCE, p.topic(p.EVERYONE), p.user_topic(self.name)]
        complete = self._on_conversations(w.conversations, w.keys, not w.more)
        self._event(ev.Joined(name=w.name, resumed=w.resumed, conversations=self._listed(), device=w.device))
        self._conv_list()
        for send in self.outbox.values():   # unacknowledged sends go again, with the same cmid
            self._request("send", p.Send, send.cmid, conv=send.conv, text=send.text, cmid=send.cmid)
        waiting, self.waiting = self.waiting, []
        for what, msg, ctx in waiting:
            if what != "send":
                self.pending[msg.id] = (what, ctx)
                self.frames.append(p.encode(msg))
        if complete:
            self._conversations_complete()

    def _on_conversations(self, infos: list[p.ConversationInfo], keys: list[p.KeyInfo], complete: bool) -> bool:
        """A page of the welcome's conversations (the welcome itself holds the first): their state, keys
        and subscriptions; the next page is asked for until the list is complete. Returns ``complete``."""
        self._learn_keys(keys)
        for info in infos:
            conv = self.convs.get(info.conv)
            if conv is None:
                conv = self.convs[info.conv] = ConvState(info.conv, info.kind, info.title, info.private)
            if self._first_welcome:   # what this user had not read when it left is what it missed
                conv.seen = conv.read_sent = info.last_read
                conv.missed_upto = info.head_seq
            conv.head = max(conv.head, info.head_seq)
            conv.topic, conv.role = info.topic, info.role
            if conv.kind == p.ConvKind.GROUP:
                self.subscribe.append(p.topic(conv.conv))
        if not complete and infos:
            self._request("conversations", p.ListConversations, after=infos[-1].conv)
            return False
        return True

    def _conversations_complete(self) -> None:
        # last: the SUB sends subscriptions in order, so the first heartbeat proves all are in
        self.subscribe.append(p.TOPIC_HEARTBEAT)
        for conv in self.convs.values():
            self._catch_up(conv)
        self._report_progress()

    def _learn_keys(self, infos: list[p.KeyInfo]) -> None:
        """Keep fan-out keys; frames that were waiting for one are delivered now, in arrival order."""
        for info in infos:
            for topic, payload in self.keys.add(info.scope, info.epoch, bytes.fromhex(info.key)):
                self._published(topic, payload)

    def _on_ok(self, what: str, ctx: Any, ok: p.Ok) -> None:
        if what == "send":
            self._settle(ctx, ok.seq or 0)
        elif what in ("create_group", "join_group") and ok.conv:
            self.left_convs.discard(ok.conv)
            if ok.key is not None:
                self._learn_keys([ok.key])
            conv = self.convs.get(ok.conv)
            if conv is None:
                conv = self.convs[ok.conv] = ConvState(ok.conv, "group", ok.conv[2:], bool(ctx))
                conv.seen = conv.read_sent = max(0, (ok.seq or 1) - 1)
                self.subscribe.append(p.topic(ok.conv))
            conv.head = max(conv.head, ok.seq or 0)
            self.current, conv.unread, conv.mentions = ok.conv, 0, 0
            if ok.info is not None:
                conv.topic, conv.role, conv.private = ok.info.topic, ok.info.role, ok.info.private
            self._conv_list()
            self._event(ev.Info(text=f"{'created' if what == 'create_group' else 'joined'} group {conv.title}"))
            self._catch_up(conv)
        elif what == "leave_group" and ok.conv:
            self.convs.pop(ok.conv, None)
            self._event(ev.Info(text=f"left group {ok.conv[2:]}"))
            self._forget_group(ok.conv)
        elif what == "invite":
            self._event(ev.Info(text=f"invited {ctx[0]} to {ctx[1]}"))
        elif what == "revoke_device":
            self._event(ev.Info(text=f"revoked the device {ctx}: it is signed out and can no longer read"))
        elif what == "bye":
            self.joined = False
            self._event(ev.Left(reason="left"))

    def _on_error(self, what: str, ctx: Any, err: p.Error) -> None:
        if what == "hello":
            self._event(ev.JoinFailed(name=self.name, code=err.code, message=err.message))
        elif err.code == p.ErrorCode.NOT_JOINED and not self.leaving:   # the broker forgot us: start over
            self.connected(self.last_heard)
        elif what == "history" and err.code == p.ErrorCode.RATE_LIMITED and ctx in self.convs:
            self.convs[ctx].fetching = False     # catch up this conversation again a little later
            self.history_paced[ctx] = self.last_heard + (err.retry_after_ms or 1000) / 1000
        elif what == "send" and err.retryable:     # stays in the outbox; later sends to it wait behind it
            conv = self.outbox[ctx].conv if ctx in self.outbox else p.EVERYONE
            if conv not in self.paced:
                self._event(ev.Info(text=f"sending more slowly: {err.message}"))
            self.paced[conv] = self.last_heard + (err.retry_after_ms or 1000) / 1000
        else:
            if what == "send":
                send = self.outbox.pop(ctx, None)
                self._send_status(send, ev.SendState.FAILED, reason=err.message)
                if send is not None and err.code == p.ErrorCode.NO_SUCH_USER:
                    self._drop_unknown_dm(send.conv)
            elif what == "history" and ctx in self.convs:
                self.convs[ctx].fetching = False
            elif what == "typing" or (what == "status" and ctx[2]):
                return                  # nobody asked for these: a refused one is no news for the user
            self._fail(err.code, err.message, what)

    def _drop_unknown_dm(self, key: str) -> None:
        """A DM this client opened to a user the broker does not know: it never existed, so it goes."""
        conv = self.convs.get(key)
        if conv is None or conv.kind != "dm" or conv.head:
            return
        del self.convs[key]
        if self.current == key:
            self.current = p.EVERYONE
        self._conv_list()

    # ---------------------------------------------------------------- what other devices did
    def _membership_elsewhere(self, m: p.Membership) -> None:
        if m.info is not None:
            self.left_convs.discard(m.conv)
            self._on_conversations([m.info], [m.key] if m.key else [], True)
            self._conv_list()
            self._catch_up(self.convs[m.conv])
        elif self.convs.pop(m.conv, None) is not None:
            self._forget_group(m.conv)

    def _forget_group(self, key: str) -> None:
        """This account is no longer in group ``key``: no subscription, no key, not current."""
        self.left_convs.add(key)
        self.unsubscribe.append(p.topic(key))
        self.keys.drop(key)
        if self.current == key:
            self.current = p.EVERYONE
        self._conv_list()

    def _read_elsewhere(self, key: str, seq: int) -> None:
        """Read state follows the person: what another device read is not unread here."""
        conv = self.convs.get(key)
        if conv is None:
            return
        conv.read_sent = max(conv.read_sent, seq)
        if seq >= conv.seen and conv.unread:
            conv.unread = conv.mentions = 0
            self._conv_list()
