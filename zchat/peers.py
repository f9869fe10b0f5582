"""Several brokers on one database: what each tells the others after a commit, and what it does
with what they tell it.

Part of the hub (a mixin of :class:`zchat.hub.Hub`). The database holds everything that must
survive (history, accounts and devices, groups, read marks) and gives the seqs; each broker
keeps in memory what it decides with, and the bus (zchat.bus) carries one bundle per batch
telling the others what changed, by reference: the conversations whose heads moved (the
receiver reads the lines from the store and publishes them on its own fan-out, in seq order,
sealed with its own keys), the accounts and conversations whose rows changed (the receiver
reloads them and acts on the difference: a revoked device's sessions end, a member who left
no longer holds the group's key, once the lines said before it left are out: a removal names the
group's last line then; a topic, role or ban is the group's too), read marks, presence,
the few publishes that are not stored lines (``invited``, typing, ``seen``) and the notices that
must reach a user on every broker (why a kicked member left). Edits, deletions and reactions are
stored lines, so they travel as heads like any other line. A bundle that never arrives costs
latency, not data: after the bus comes back, :meth:`PeerSync.resync` compares everything with the
store. Why each piece of state is shared this way: docs/DEPLOY.md.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from zchat import protocol as p
from zchat.hub_parts import Conversation, HubPart

if TYPE_CHECKING:
    from zchat.store import ConversationRow, DeviceRow, UserRow
    from zchat.store_base import Line, SharedStore, Touched

log = logging.getLogger("zchat.hub")
K = p.ConvKind
BUNDLE_BYTES = 7000           # NOTIFY payloads are limited to 8000 bytes: bigger bundles go in pieces
SIGNED_OUT = "this device was signed out on another broker (revoked, or the account reset)"
BANNED = "this account was banned by the broker's admin"


def pieces(me: str, items: dict[str, list[Any]]) -> list[str]:
    """A bundle as JSON payloads of at most BUNDLE_BYTES, each item whole and in order."""
    out: list[str] = []
    cur: dict[str, Any] = {"b": me}
    size = 20
    for field, values in items.items():
        for v in values:
            n = len(json.dumps(v)) + 2
            if size + n > BUNDLE_BYTES and len(cur) > 1:
                out.append(json.dumps(cur, separators=(",", ":")))
                cur, size = {"b": me}, 20
            cur.setdefault(field, []).append(v)
            size += n
    if len(cur) > 1 or not out:
        out.append(json.dumps(cur, separators=(",", ":")))
    return out


class PeerSync(HubPart):
    if TYPE_CHECKING:
        shared: SharedStore | None
        broker_id: str
        relays: list[tuple[bytes, bytes]]
        relayed_notices: list[tuple[str, bytes]]
        removals: list[tuple[str, Line | int]]
        lines: list[Line]
        publishes: list[Any]
        def _publish_rows(self, conv: Conversation, rows: list[Any], out: list[Any]) -> None: ...

    def _publish_everywhere(self, topic: bytes, payload: bytes) -> None:
        """A publish that is not a stored line, for this broker's subscribers and the others'."""
        self._publish(topic, payload)
        if self.shared is not None:
            self.relays.append((topic, payload))

    def _notify_everywhere(self, user: str, notice: bytes) -> None:
        """A notice to every live session of ``user``, on this broker and the others."""
        self._notify(user, notice)
        if self.shared is not None:
            self.relayed_notices.append((user, notice))

    def _mark_removal(self, conv: Conversation) -> None:
        """A member is leaving ``conv`` (left, kicked, banned): the other brokers publish what was said
        until now (the event line that says so included) before they rotate the group's key."""
        if self.shared is not None:
            last = next((x for x in reversed(self.lines) if x.conv == conv.key), None)
            self.removals.append((conv.key, conv.head if last is None else last))

    # ---------------------------------------------------------------- what we tell
    def bundle(self, touched: Touched, heads: dict[str, int]) -> list[str]:
        """What this broker's last commit changed, for the others (empty list: nothing to tell)."""
        relays, self.relays = self.relays, []
        notices, self.relayed_notices = self.relayed_notices, []
        removals, self.removals = self.removals, []
        items: dict[str, list[Any]] = {          # in the order they are applied ("k" before "c": see apply_bundle)
            "u": sorted(touched.users),
            "k": [[conv, last if isinstance(last, int) else last.seq] for conv, last in removals],
            "c": sorted(touched.convs), "r": sorted(touched.reads),
            "n": [[u, n.decode()] for u, n in notices],
            "p": self.presence.local_changes(), "h": sorted(heads.items()),
            "x": [[t.decode(), d.decode()] for t, d in relays]}
        if not any(items.values()):
            return []
        return pieces(self.broker_id, {k: v for k, v in items.items() if v})

    # ---------------------------------------------------------------- what we are told
    def apply_bundle(self, bundle: dict[str, Any]) -> None:
        """Another broker's bundle: state first (so keys rotate before later lines go out), then lines."""
        assert self.shared is not None
        store, sender = self.shared, str(bundle.get("b", ""))
        for user in bundle.get("u", ()):
            row = store.load_user(user)
            if row is not None:
                self._apply_user(user, row, store.devices_of(user))
        for key, seq in bundle.get("k", ()):       # what a member who left may still read goes out with the old key
            self._catch_up(key, seq)
        for key in bundle.get("c", ()):
            conv = store.load_conversation(key)
            if conv is not None:
                group = store.group_state(key) if conv.kind == K.GROUP else ("", {}, set())
                self._apply_conv(conv, store.members_of(key), store.invites_of(key), group)
        for user, conv in bundle.get("r", ()):
            mark = store.load_read(user).get(conv, 0)
            self._notify(user, p.encode(p.ReadMark(conv, mark)))
        for user, notice in bundle.get("n", ()):
            self._notify(user, notice.encode())
        for user, name, state, reason, text in bundle.get("p", ()):
            self.presence.remote_state(sender, user, name, p.PresenceState(state), p.PresenceReason(reason), text)
        for key, seq in bundle.get("h", ()):
            self._catch_up(key, seq)
        for topic, payload in bundle.get("x", ()):
            self._publish(topic.encode(), payload.encode())

    def _catch_up(self, key: str, head: int) -> None:
        """Publish, in order, the lines of ``key`` up to ``head`` that this broker has not published."""
        conv = self.convs.get(key)
        assert self.shared is not None
        while conv is not None and conv.head < head:
            rows = self.shared.after(key, conv.head, min(500, head - conv.head))
            if not rows:
                break
            self._publish_rows(conv, rows, self.publishes)

    def _apply_user(self, user: str, row: UserRow, devices: list[DeviceRow]) -> None:
        self.names[user] = row.name
        newly_banned = row.banned and user not in self.banned
        (self.banned.add if row.banned else self.banned.discard)(user)
        now = {d.pubkey: d for d in devices}
        gone = {k for k, d in self.devices.items() if d.user == user and k not in now}
        for k in gone:
            del self.devices[k]
        self.devices.update(now)
        if newly_banned:
            self._end_sessions(user, BANNED)
        elif gone and any(s.pubkey in gone for s in self.presence.sessions_of(user)):
            self._end_sessions(user, SIGNED_OUT, gone)

    def _apply_conv(self, row: ConversationRow, members: set[str], invites: set[str],
                    group: tuple[str, dict[str, str], set[str]]) -> None:
        """A conversation as the store has it now: its members, invites and (a group's) topic, roles, bans."""
        conv = self.convs.get(row.key)
        if conv is None:
            conv = self._new_conversation(row.key, row.kind, row.private)
            if row.kind == K.DM:
                for u in p.dm_users(row.key):
                    self.user_convs.setdefault(u, set()).add(row.key)
        conv.invites = invites
        conv.topic, conv.roles, conv.bans = group
        added, removed = members - conv.members, conv.members - members
        conv.members = members
        for u in added:
            self.user_convs.setdefault(u, set()).add(row.key)
            self._notify(u, self._membership_notice(u, conv, True))
        for u in removed:
            self.user_convs.get(u, set()).discard(row.key)
            self._notify(u, self._membership_notice(u, conv, False))
        if removed:       # whoever left reads nothing said from now on, on this broker's fan-out too
            self.access.rotate(row.key)

    def resync(self) -> None:
        """Compare everything in memory with the store and act on the differences (after the bus or the
        database was away, or a batch failed: a bundle may have been missed)."""
        assert self.shared is not None
        store = self.shared
        devices: dict[str, list[DeviceRow]] = {}
        for d in store.load_devices():
            devices.setdefault(d.user, []).append(d)
        for row in store.load_users():
            user = p.canonical(row.name)
            self._apply_user(user, row, devices.get(user, []))
        members, invites = store.load_members(), store.load_invites()
        topics, roles, bans = store.load_topics(), store.load_roles(), store.load_bans()
        convs = store.load_conversations()
        for conv in convs:
            key = conv.key
            self._apply_conv(conv, members.get(key, set()), invites.get(key, set()),
                             (topics.get(key, ""), roles.get(key, {}), bans.get(key, set())))
        for conv in convs:
            self._catch_up(conv.key, conv.head_seq)

    def broker_gone(self, broker: str) -> None:
        self.presence.forget_broker(broker, lambda u: self.names.get(u, u))
