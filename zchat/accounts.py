"""Accounts and their devices: which key may speak for which name, and how that changes.

Part of the hub (a mixin of :class:`zchat.hub.Hub`, which owns the state named below). An
account (a name) owns one or more device keys, each made on its device and never copied. A
device already in the account asks for a one-time link code; a new key presents it once in
``hello`` and becomes a device of the account. Revoking a device, banning an account or
resetting it (the recovery path for a lost key) ends the sessions concerned at once and
replaces every fan-out key they could read with, so they read nothing said afterwards.
The same operations serve the broker's admin command (zchat.admin).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from typing import TYPE_CHECKING, Any

from zchat import protocol as p
from zchat.access import PUBLIC_SCOPE, user_scope
from zchat.errors import ErrorCode, ProtocolError
from zchat.hub_parts import HubPart

if TYPE_CHECKING:
    from zchat.presence import Session
    from zchat.store import DeviceRow

log = logging.getLogger("zchat.hub")
LINK_TTL = 600.0                   # seconds a link code made on a device is good for
RESET_LINK_TTL = 24 * 3600.0       # ... and one an admin reset prints (its owner may be far away)
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"    # Crockford's base32: no I, L, O or U to misread
CUT_DELAY = 1.0                    # seconds between a session's "ended" notice and cutting its connections


def new_link_code() -> str:
    """12 characters of base32 (60 bits), shown as XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def code_hash(code: str) -> str:
    """What the store keeps of a code (never the code): its SHA-256, of the code as typed without
    dashes, spaces or case."""
    clean = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(clean.encode()).hexdigest()


class AccountRequests(HubPart):
    # ---------------------------------------------------------------- hello: who is this key?
    def _account_of(self, pubkey: str, req: p.Hello) -> tuple[str, str]:
        """The account and device name a hello speaks for, after every check; new accounts and
        linked devices are stored here."""
        name, user = p.check_name(req.name), p.canonical(req.name)
        device = self.devices.get(pubkey)
        if device is not None:
            if device.user != user:
                raise ProtocolError(ErrorCode.KEY_IN_USE, f"this key is a device of the account "
                                    f"{self.names[device.user]!r}, not of {name!r}", req.id)
            self._not_banned(user, req.id)
            return user, device.name
        now = self.clock()
        if user not in self.names:
            if req.link:
                raise ProtocolError(ErrorCode.LINK_INVALID, f"there is no account {name!r} to link to", req.id)
            self.store.add_user(name, now)
            self.names[user] = name
            # a newcomer missed nothing: what was said to everyone before it existed is not "missed"
            self.store.set_read(user, p.EVERYONE, self.convs[p.EVERYONE].head)
            return user, self._add_device(pubkey, user, req.device, now)
        self._not_banned(user, req.id)
        if not req.link:
            raise ProtocolError(ErrorCode.NAME_TAKEN, f"the name {self.names[user]!r} belongs to another key; to "
                                "use it from this device too, make a link code on one of its devices and "
                                "present it (zchat --link CODE)", req.id)
        wait_ms = self.presence.take(user, p.RateKind.LINK)
        if wait_ms:
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many link attempts for this account; wait",
                                req.id, retry_after_ms=wait_ms)
        if not self.store.take_link_code(code_hash(req.link), user, now):
            raise ProtocolError(ErrorCode.LINK_INVALID, "that link code is wrong, used or expired: make a new "
                                "one on a device of the account", req.id)
        device_name = self._add_device(pubkey, user, req.device, now)
        log.info("%s linked a new device %r", self.names[user], device_name)
        return user, device_name

    def _not_banned(self, user: str, req_id: str) -> None:
        if user in self.banned:
            raise ProtocolError(ErrorCode.BANNED, f"the account {self.names[user]!r} is banned on this broker",
                                req_id)

    def _add_device(self, pubkey: str, user: str, wanted: str | None, now: float) -> str:
        taken = {d.name.lower() for d in self.devices.values() if d.user == user}
        name = p.check_name(wanted, "device name") if wanted else ""
        if not name or name.lower() in taken:
            base = name or "device"
            name = next(f"{base}-{n}" for n in range(1, len(taken) + 2) if f"{base}-{n}".lower() not in taken)
        self.devices[pubkey] = self.store.add_device(pubkey, user, name, now)
        return name

    def devices_of(self, user: str) -> list[DeviceRow]:
        return sorted((d for d in self.devices.values() if d.user == user), key=lambda d: (d.created, d.name))

    # ---------------------------------------------------------------- requests from a device
    def _on_link_device(self, s: Session, req: p.LinkDevice) -> p.LinkCode:
        self._limit(s, p.RateKind.LINK, req.id, "link codes")
        code, expires = self.make_link_code(s.user, LINK_TTL)
        return p.LinkCode(req.id, code, expires)

    def make_link_code(self, user: str, ttl: float) -> tuple[str, float]:
        now = self.clock()
        code = new_link_code()
        self.store.add_link_code(code_hash(code), user, now, now + ttl)
        return code, now + ttl

    def _on_devices(self, s: Session, req: p.ListDevices) -> p.Devices:
        return p.Devices(req.id, self.device_infos(s.user, s.pubkey))

    def device_infos(self, user: str, current: str | None = None) -> list[p.DeviceInfo]:
        online = {x.pubkey for x in self.presence.sessions_of(user)}
        now = self.clock()
        return [p.DeviceInfo(d.name, d.created, now if d.pubkey in online else d.last_seen, d.pubkey in online,
                             d.pubkey == current) for d in self.devices_of(user)]

    def _on_revoke_device(self, s: Session, req: p.RevokeDevice) -> p.Ok:
        self.revoke_device(s.user, req.device, req.id)
        return p.Ok(req.id)

    # ---------------------------------------------------------------- what ends sessions
    def revoke_device(self, user: str, device_name: str, req_id: str | None = None) -> None:
        """Remove a device: its sessions end at once and every key it could read with is replaced."""
        found = [d for d in self.devices_of(user) if d.name.lower() == device_name.lower()]
        if not found:
            raise ProtocolError(ErrorCode.NO_SUCH_DEVICE, f"{self.names[user]!r} has no device {device_name!r}",
                                req_id)
        if len(self.devices_of(user)) == 1:
            raise ProtocolError(ErrorCode.LAST_DEVICE, f"{found[0].name!r} is the account's only device: "
                                "revoking it would lock the account out (an admin can reset it)", req_id)
        self._remove_devices(user, found, f"this device ({found[0].name}) was revoked")
        log.info("%s revoked the device %r", self.names[user], found[0].name)

    def _remove_devices(self, user: str, devices: list[DeviceRow], reason: str) -> None:
        keys = {d.pubkey for d in devices}
        for d in devices:
            self.store.remove_device(d.pubkey)
            del self.devices[d.pubkey]
        self._end_sessions(user, reason, keys)

    def _end_sessions(self, user: str, reason: str, keys: set[str] | None = None) -> None:
        """End the user's sessions (those of ``keys``, or all): an "ended" notice, then nothing more
        for them, their connections cut a moment later, and every key they held replaced."""
        ending = [s for s in self.presence.sessions_of(user) if keys is None or s.pubkey in keys]
        notice = p.encode(p.Ended(reason))
        for s in ending:
            self._notice(s, notice)
            self.to_cut.append((self.clock() + CUT_DELAY, s.peer, s.sub_token))
            self.presence.depart(s, p.PresenceReason.LEFT)      # which replaces the user's own key
        scopes = [PUBLIC_SCOPE] + sorted(k for k in self.user_convs.get(user, ()) if k.startswith("g:"))
        for scope in scopes if ending else [user_scope(user)] + scopes:
            self.access.rotate(scope)

    # ---------------------------------------------------------------- the admin's operations
    def admin(self, command: str, args: list[str]) -> dict[str, Any]:
        """One admin command (zchat.admin) -> a JSON-able result; ProtocolError for a bad one.
        Every command that changes something is written to the admin log."""
        now = self.clock()
        if command == "users":
            return {"users": [{"name": self.names[u], "devices": len(self.devices_of(u)), "banned": u in self.banned,
                               "state": self.presence.state_of(u)} for u in sorted(self.names)]}
        if command == "stats":
            return {**self.store.counts(), "sessions": sum(len(v) for v in self.presence.by_user.values()),
                    "online_users": sum(1 for u in self.presence.by_user if self.presence.state_of(u) ==
                                        p.PresenceState.ONLINE)}
        user = self._admin_user(args)
        if command == "devices":
            return {"devices": [{"name": d.name, "created": d.created, "last_seen": d.last_seen, "online": d.online}
                                for d in self.device_infos(user)]}
        if command == "revoke" and len(args) == 2:
            self.revoke_device(user, args[1])
            result: dict[str, Any] = {"revoked": args[1]}
        elif command == "reset":
            self._remove_devices(user, self.devices_of(user), "the account was reset by the broker's admin")
            self.store.remove_link_codes(user)
            code, expires = self.make_link_code(user, RESET_LINK_TTL)
            result = {"reset": self.names[user], "link_code": code, "expires": expires}
        elif command in ("ban", "unban"):
            self.store.set_banned(user, command == "ban")
            if command == "ban":
                self.banned.add(user)
                self._end_sessions(user, "this account was banned by the broker's admin")
            else:
                self.banned.discard(user)
            result = {command: self.names[user]}
        else:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"unknown admin command {command!r} or wrong arguments")
        self.store.log_admin(now, command, " ".join(args))
        log.info("admin: %s %s", command, " ".join(args))
        return result

    def _admin_user(self, args: list[str]) -> str:
        user = p.canonical(args[0]) if args else ""
        if user not in self.names:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user named {args[0] if args else ''!r}")
        return user
