"""The hub's group moderation: topics, roles (owner, admins), kicks, bans, and who takes a group
over when its owner leaves.

Part of the hub (a mixin of :class:`zchat.hub.Hub`, whose state zchat.hub_parts declares); kept
apart so each module stays small. Every action that changes something is an event line of the
group (through ``Hub._append``), published while whoever it concerns can still read it; a kick
or a ban then rotates the group's key like a leave does (zchat.access), so the user removed
reads nothing the group says afterwards, even on a subscription it kept. Rules:
docs/PROTOCOL.md §13.5.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.hub_parts import Conversation, HubPart

if TYPE_CHECKING:
    from zchat.presence import Session

A, R = p.ModAction, p.GroupRole
EV = p.MessageKind.EVENT
MODERATORS = frozenset({R.OWNER, R.ADMIN})
ROLE_WORDS = {R.ADMIN: "an admin", R.MEMBER: "a member", R.OWNER: "the owner"}


class ModerationRequests(HubPart):
    if TYPE_CHECKING:
        def _group(self, name: str) -> Conversation: ...
        def _set_role(self, conv: Conversation, user: str, role: str) -> None: ...
        def _remove_member(self, conv: Conversation, user: str) -> None: ...
        def _tell_other_devices(self, s: Session, conv: Conversation, joined: bool) -> None: ...

    def _moderator(self, s: Session, conv: Conversation, req_id: str, owner_only: bool = False) -> str:
        """``s``'s role in the group, if it may moderate it (only its owner, with ``owner_only``)."""
        if s.user not in conv.members:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"you are not in {conv.key[2:]!r}", req_id)
        role = conv.roles.get(s.user, R.MEMBER)
        if role not in ({R.OWNER} if owner_only else MODERATORS):
            who = "its owner" if owner_only else "its owner and admins"
            raise ProtocolError(ErrorCode.NOT_ALLOWED, f"only {who} can do that in {conv.key[2:]!r}", req_id)
        return role

    def _on_set_topic(self, s: Session, req: p.SetTopic) -> p.Ok:
        conv = self._group(req.group)
        self._moderator(s, conv, req.id)
        topic = req.topic.strip()
        if topic == conv.topic:
            return p.Ok(req.id, conv.key, conv.head)
        self._limit(s, p.RateKind.MODERATE, req.id, "moderation requests")
        self.store.set_topic(conv.key, topic)
        conv.topic = topic
        _, seq, ts, _ = self._append(conv, s, EV, f"set the topic: {topic}" if topic else "cleared the topic")
        return p.Ok(req.id, conv.key, seq, ts)

    def _on_moderate(self, s: Session, req: p.Moderate) -> p.Ok:
        try:
            action = A(req.action)
        except ValueError:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"field 'action': one of {', '.join(A)}", req.id) from None
        conv = self._group(req.group)
        role = self._moderator(s, conv, req.id, owner_only=action in (A.OP, A.DEOP, A.OWNER))
        user = p.canonical(req.name)
        if user not in self.names:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user named {req.name!r}", req.id)
        if user == s.user:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "you cannot do that to yourself (leave_group leaves)", req.id)
        target = conv.roles.get(user, R.MEMBER)
        if action in (A.KICK, A.BAN) and (target == R.OWNER or (target == R.ADMIN and role != R.OWNER)):
            raise ProtocolError(ErrorCode.NOT_ALLOWED, f"only the owner can remove an admin, and nobody the "
                                f"owner of {conv.key[2:]!r}", req.id)
        member = user in conv.members
        if action in (A.KICK, A.OP, A.DEOP, A.OWNER) and not member:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"{self.names[user]!r} is not in {conv.key[2:]!r}", req.id)
        if ((action == A.BAN and user in conv.bans) or (action == A.UNBAN and user not in conv.bans)
                or (action == A.OP and target == R.ADMIN) or (action == A.DEOP and target == R.MEMBER)):
            return p.Ok(req.id, conv.key, conv.head)          # nothing changes
        self._limit(s, p.RateKind.MODERATE, req.id, "moderation requests")
        name = self.names[user]
        if action in (A.KICK, A.BAN):
            if action == A.BAN:
                self.store.add_ban(conv.key, user, s.user, self.clock())
                conv.bans.add(user)
                if user in conv.invites:
                    self.store.remove_invite(conv.key, user)
                    conv.invites.discard(user)
            verb = "kicked" if action == A.KICK else "banned"
            _, seq, ts, _ = self._append(conv, s, EV, f"{verb} {name}")      # published while it can still read
            if member:
                self._expel(conv, user, f"{verb} from {conv.key[2:]} by {s.name}")
            return p.Ok(req.id, conv.key, seq, ts)
        if action == A.UNBAN:
            self.store.remove_ban(conv.key, user)
            conv.bans.discard(user)
            _, seq, ts, _ = self._append(conv, s, EV, f"unbanned {name}")
            return p.Ok(req.id, conv.key, seq, ts)
        if action == A.DEOP:
            self._set_role(conv, user, R.MEMBER)
        elif action == A.OP:
            self._set_role(conv, user, R.ADMIN)
        else:                                                 # the old owner stays on as an admin
            self._set_role(conv, s.user, R.ADMIN)
            self._set_role(conv, user, R.OWNER)
        new_role = {A.OP: R.ADMIN, A.DEOP: R.MEMBER, A.OWNER: R.OWNER}[action]
        _, seq, ts, _ = self._append(conv, s, EV, f"made {name} {ROLE_WORDS[new_role]}")
        return p.Ok(req.id, conv.key, seq, ts)

    def _expel(self, conv: Conversation, user: str, reason: str) -> None:
        """Take ``user`` out of the group: its key changes, and every session of it is told."""
        self._remove_member(conv, user)
        self._notify_everywhere(user, p.encode(p.Membership(conv.key, reason=reason)))

    def _hand_over(self, s: Session, conv: Conversation) -> None:
        """The owner ``s`` leaves: the group passes to its longest-standing admin, else member."""
        heir = self.store.successor(conv.key, s.user)
        if conv.roles.get(s.user) != R.OWNER or heir is None:
            return
        self._set_role(conv, heir, R.OWNER)
        self._append(conv, s, EV, f"made {self.names[heir]} {ROLE_WORDS[R.OWNER]}")

    def _may_enter(self, conv: Conversation, user: str, req_id: str, invited_by: str | None = None) -> None:
        if user in conv.bans:
            who = f"{self.names[user]!r} is" if invited_by else "you are"
            raise ProtocolError(ErrorCode.BANNED, f"{who} banned from {conv.key[2:]!r}", req_id)
