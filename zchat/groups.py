"""The hub's group requests: create, join, leave, invite, and the paged list of groups.

Part of the hub (a mixin of :class:`zchat.hub.Hub`, whose state zchat.hub_parts declares); kept
apart so each module stays small. Membership is what the fan-out keys follow: joining
hands over the group's current key in the ``ok``, and leaving rotates it, so the member who
left reads nothing the group says afterwards, even on a subscription it kept.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zchat import paging
from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.hub_parts import Conversation, HubPart

if TYPE_CHECKING:
    from zchat.presence import Session

K = p.ConvKind
EV = p.MessageKind.EVENT


class GroupRequests(HubPart):
    def _group(self, name: str) -> Conversation:
        conv = self.convs.get(p.group_key(name))
        if conv is None or conv.kind != K.GROUP:
            raise ProtocolError(ErrorCode.NO_SUCH_CONVERSATION, f"no group named {name!r}")
        return conv

    def _room_for_one_more(self, s: Session, req_id: str) -> None:
        groups = sum(1 for key in self.user_convs.get(s.user, ()) if key.startswith("g:"))
        if groups >= self.config.max_groups:
            raise ProtocolError(ErrorCode.LIMIT_REACHED, f"you are in {groups} groups, as many as this broker "
                                "allows one user; leave one first", req_id)

    def _on_create_group(self, s: Session, req: p.CreateGroup) -> p.Ok:
        key = p.group_key(p.check_name(req.group, "group name"))
        if key in self.convs:
            raise ProtocolError(ErrorCode.GROUP_EXISTS, f"a group named {req.group!r} exists already")
        self._room_for_one_more(s, req.id)
        self._limit(s, p.RateKind.CREATE_GROUP, req.id, "new groups")
        self.store.add_conversation(key, K.GROUP, req.private, s.user, self.clock())
        conv = self._new_conversation(key, K.GROUP, req.private)
        self._add_member(conv, s.user)
        self._set_role(conv, s.user, p.GroupRole.OWNER)       # its creator owns it
        _, seq, ts, _ = self._append(conv, s, EV, "created")
        self._tell_other_devices(s, conv, joined=True)
        return p.Ok(req.id, key, seq, ts, key=self.access.info(key), info=self._conv_info(conv, s.user, 0))

    def _set_role(self, conv: Conversation, user: str, role: str) -> None:
        self.store.set_role(conv.key, user, role)
        if role == p.GroupRole.MEMBER:
            conv.roles.pop(user, None)
        else:
            conv.roles[user] = role

    def _add_member(self, conv: Conversation, user: str) -> None:
        self.store.add_member(conv.key, user, self.clock())
        conv.members.add(user)
        self.user_convs.setdefault(user, set()).add(conv.key)
        if user in conv.invites:
            self.store.remove_invite(conv.key, user)
            conv.invites.discard(user)

    def _on_join_group(self, s: Session, req: p.JoinGroup) -> p.Ok:
        conv = self._group(req.group)
        if s.user in conv.members:
            return p.Ok(req.id, conv.key, conv.head, key=self.access.info(conv.key),
                        info=self._conv_info(conv, s.user, self.store.load_read(s.user).get(conv.key, 0)))
        self._may_enter(conv, s.user, req.id)
        if conv.private and s.user not in conv.invites:
            raise ProtocolError(ErrorCode.NOT_INVITED, f"{req.group!r} is private: a member must /invite you")
        self._room_for_one_more(s, req.id)
        self._add_member(conv, s.user)
        _, seq, ts, _ = self._append(conv, s, EV, "joined")
        self._tell_other_devices(s, conv, joined=True)
        return p.Ok(req.id, conv.key, seq, ts, key=self.access.info(conv.key), info=self._conv_info(conv, s.user, 0))

    def _on_leave_group(self, s: Session, req: p.LeaveGroup) -> p.Ok:
        conv = self._group(req.group)
        if s.user not in conv.members:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"you are not in {req.group!r}")
        self._hand_over(s, conv)
        _, seq, ts, _ = self._append(conv, s, EV, "left")
        self._remove_member(conv, s.user)
        self._tell_other_devices(s, conv, joined=False)
        return p.Ok(req.id, conv.key, seq, ts)

    def _remove_member(self, conv: Conversation, user: str) -> None:
        self._mark_removal(conv)
        self.store.remove_member(conv.key, user)
        conv.members.discard(user)
        conv.roles.pop(user, None)
        self.user_convs[user].discard(conv.key)
        self.access.rotate(conv.key)        # what the group says from now on is sealed with a key it lacks

    def _tell_other_devices(self, s: Session, conv: Conversation, joined: bool) -> None:
        """The account's other sessions follow its membership: they subscribe (with the key) or let go."""
        self._notify(s.user, self._membership_notice(s.user, conv, joined), but=s)

    def _membership_notice(self, user: str, conv: Conversation, joined: bool) -> bytes:
        info = self._conv_info(conv, user, self.store.load_read(user).get(conv.key, 0)) if joined else None
        return p.encode(p.Membership(conv.key, info, self.access.info(conv.key) if joined else None))

    def _on_invite(self, s: Session, req: p.Invite) -> p.Ok:
        conv = self._group(req.group)
        if s.user not in conv.members:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"only members of {req.group!r} can invite")
        user = p.canonical(req.name)
        if user not in self.names:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user named {req.name!r}")
        if user in conv.members or user in conv.invites:
            return p.Ok(req.id, conv.key, conv.head)
        self._may_enter(conv, user, req.id, invited_by=s.user)
        self._limit(s, p.RateKind.INVITE, req.id, "invitations")
        self.store.add_invite(conv.key, user)
        conv.invites.add(user)
        _, seq, ts, _ = self._append(conv, s, EV, f"invited {self.names[user]}")
        self._publish_everywhere(p.user_topic(user), p.encode(p.Invited(self._title(conv, user), s.name)))
        return p.Ok(req.id, conv.key, seq, ts)

    def _on_groups(self, s: Session, req: p.ListGroups) -> p.Groups:
        mine = self.user_convs.get(s.user, set())
        visible = [p.GroupInfo(c.key[2:], c.private, len(c.members), c.key in mine, c.topic)
                   for c in sorted(self.convs.values(), key=lambda c: c.key)
                   if c.kind == K.GROUP and (not c.private or c.key in mine or s.user in c.invites)]
        groups, complete = paging.page(visible, key=lambda g: g.name, after=req.after)
        return p.Groups(req.id, groups, complete)
