"""The client session's actions: what a frontend asks for (send, DM, groups, switch, close,
leave), checked and turned into requests.

Part of :class:`zchat.session.ClientSession` (a mixin; the session owns the state named below),
kept apart so each module stays small. A send goes into the outbox first and stays there until
the broker acknowledges it, so nothing typed is lost to a broken link.
"""
from __future__ import annotations

import uuid

from zchat import events as ev
from zchat import protocol as p
from zchat.session_parts import ConvState, SessionPart


class Actions(SessionPart):
    def send(self, text: str, conv: str | None = None, kind: str = "msg", reply_to: int | None = None) -> str | None:
        """Send ``text`` to ``conv`` (default: the current conversation); kept until acknowledged.
        ``kind`` "me": an action line; ``reply_to``: the seq of the line it answers."""
        conv = conv or self.current
        limit = self.limits.max_text_bytes if self.limits else p.MAX_TEXT_BYTES
        if len(text.encode("utf-8", "replace")) > limit:
            self._fail("too_large", f"message too long: at most {limit} bytes", "send")
            return None
        text = p.strip_controls(text)
        cmid = uuid.uuid4().hex
        self.outbox[cmid] = send = p.Send(id="", conv=conv, text=text, cmid=cmid,
                                          kind=None if kind == p.MessageKind.MSG else kind, reply_to=reply_to)
        self._send_status(send, ev.SendState.SENDING)
        self.typing_sent.pop(conv, None)   # the others' "typing" ends with this line: the next key says it again
        if conv in self.paced:          # keep order: it goes when the ones before it go
            return None
        return self._resend_one(send)

    def _resend_one(self, send: p.Send) -> str:
        return self._request("send", p.Send, send.cmid, conv=send.conv, text=send.text, cmid=send.cmid,
                             kind=send.kind, reply_to=send.reply_to)

    def _settle(self, cmid: str, seq: int) -> None:
        """A send is stored as ``seq``: its ok came, or its line did (the broker publishes only after
        the commit, and the fan-out may overtake the reply), whichever is first."""
        send = self.outbox.pop(cmid, None)
        state = self.convs.get(send.conv) if send is not None else None
        if state is not None and seq:       # /edit and /delete without SEQ mean it from now on
            state.my_last = max(state.my_last, seq)
        self._send_status(send, ev.SendState.SENT, seq=seq)

    def _send_status(self, send: p.Send | None, state: ev.SendState, reason: str = "", seq: int = 0) -> None:
        if send is not None:        # None: a duplicate answer for a send already settled
            self._event(ev.SendStatus(cmid=send.cmid, conv=send.conv, text=send.text, state=state, reason=reason,
                                      seq=seq))

    def _resend(self, conv: str) -> None:
        """Send again, in order, what the outbox holds for ``conv`` and is not in flight."""
        in_flight = {ctx for what, ctx in self.pending.values() if what == "send"}
        for send in list(self.outbox.values()):
            if send.conv == conv and send.cmid not in in_flight:
                self._resend_one(send)

    def dm(self, name: str, text: str) -> str | None:
        try:
            p.check_name(name)
        except p.ProtocolError as exc:
            self._fail(exc.code, exc.message, "msg")
            return None
        key = p.dm_key(self.user, name)
        if key not in self.convs or key in self.closed:
            self.convs.setdefault(key, ConvState(key, "dm", name))
            self.closed.discard(key)
            self._conv_list()
        return self.send(text, key)

    def create_group(self, group: str, private: bool = False) -> str:
        return self._request("create_group", p.CreateGroup, private, group=group, private=private)

    def join_group(self, group: str) -> str:
        return self._request("join_group", p.JoinGroup, False, group=group)

    def leave_group(self, group: str) -> str:
        return self._request("leave_group", p.LeaveGroup, group=group)

    def invite(self, name: str, group: str) -> str:
        return self._request("invite", p.Invite, (name, group), group=group, name=name)

    def link_device(self) -> str:
        return self._request("link_device", p.LinkDevice)

    def list_devices(self) -> str:
        return self._request("devices", p.ListDevices)

    def revoke_device(self, device: str) -> str:
        return self._request("revoke_device", p.RevokeDevice, device, device=device)

    def list_groups(self) -> str:
        return self._request("groups", p.ListGroups, ())

    def who(self, group: str | None = None) -> str:
        return self._request("who", p.Who, conv=p.group_key(group) if group else p.EVERYONE)

    def show_history(self, count: int = 20, conv: str | None = None) -> str:
        conv = conv or self.current
        head = self.convs[conv].head if conv in self.convs else 0
        return self._request("show_history", p.History, conv=conv, before=head + 1, limit=count)

    def switch(self, target: str) -> bool:
        """Make ``target`` current: "everyone", "@name"/"name" (a DM) or "#group"/"group"."""
        key = self.resolve(target)
        if key is None:
            self._fail("usage", f"no conversation {target!r}: try everyone, @NAME or #GROUP", "switch")
            return False
        if key not in self.convs:
            self.convs[key] = ConvState(key, "dm", target.lstrip("@"))
        self.closed.discard(key)
        self.current = key
        self.convs[key].unread = self.convs[key].mentions = 0
        self._conv_list()
        return True

    def close_conversation(self, target: str | None = None) -> bool:
        """Take ``target`` (default: the current conversation) off the conversation list: a DM, or a
        group this user is no longer in. A new line in it opens it again. False (and CommandFailed)
        for everyone, a joined group, or a conversation that is not open."""
        key = self.resolve(target) if target else self.current
        if key == p.EVERYONE:
            self._fail("usage", "everyone cannot be closed: it is where every user is", "close")
            return False
        conv = self.convs.get(key) if key else None
        if key is None or conv is None or key in self.closed:
            self._fail("usage", f"no open conversation {target or key!r} to close", "close")
            return False
        if conv.kind == "group" and key not in self.left_convs:
            self._fail("usage", f"you are in #{conv.title}: /leave {conv.title} first, then /close it", "close")
            return False
        self.closed.add(key)
        conv.unread = conv.mentions = 0
        if self.current == key:
            self.current = p.EVERYONE
        self._conv_list()
        return True

    def resolve(self, target: str) -> str | None:
        t = target.strip()
        if p.canonical(t) in ("everyone", "all", "#everyone"):
            return p.EVERYONE
        if t in self.convs:
            return t
        if not t.startswith("@") and p.group_key(t.lstrip("#")) in self.convs:
            return p.group_key(t.lstrip("#"))
        name = t.lstrip("@")
        if t.startswith("#") or not p.is_valid_name(name) or p.canonical(name) == self.user:
            return None
        return p.dm_key(self.user, name)

    def leave(self) -> str:
        """End the session on purpose: read marks first, then bye (others see "left")."""
        if not self.joined:             # nobody to tell: we are offline
            self.waiting.clear()
            self._event(ev.Left(reason="left while offline"))
            return ""
        self.flush_read_marks()
        self.leaving = True
        return self._request("bye", p.Bye)
