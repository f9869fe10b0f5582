"""One person, several devices (the hub's decisions, in memory with a fake clock): link codes,
concurrent sessions, read state that follows the person, revocation, bans and resets."""
from __future__ import annotations

from typing import Any

import pytest

from tests.hubkit import peer_of
from tests.test_hub import Harness
from zchat import protocol as p
from zchat.accounts import LINK_TTL
from zchat.errors import ErrorCode

E = ErrorCode
V = p.PROTOCOL_VERSION


class Devices(Harness):
    """A harness where a connection and its key are named apart: ``as_(conn, key, msg)``."""

    def as_(self, conn: str, key: str, msg: Any) -> Any:
        with self.store.transaction():
            self.hub.handle(peer_of(conn), key, p.encode(msg))
        replies = [r for peer, r in self.output() if peer == conn.encode()]
        assert len(replies) == 1, replies
        return replies[0]

    def notices_to(self, conn: str) -> list[Any]:
        return [r for peer, r in self.notices if peer == conn.encode()]

    def link(self, conn: str, key: str, device: str | None = None) -> p.Welcome:
        code = self.as_("alice", "key-alice", p.LinkDevice("l")).code
        return self.as_(conn, key, p.Hello("h", V, "alice", link=code, device=device))


@pytest.fixture
def h() -> Any:
    harness = Devices()
    harness.join("alice", "bob")
    yield harness
    harness.store.close()


def test_a_link_code_adds_a_new_key_to_the_account_once(h: Devices) -> None:
    code = h.as_("alice", "key-alice", p.LinkDevice("l"))
    assert isinstance(code, p.LinkCode) and len(code.code) == 14 and code.expires == h.now[0] + LINK_TTL
    assert h.as_("phone", "key-phone", p.Hello("h", V, "alice")).code == E.NAME_TAKEN     # no code, no entry
    w = h.as_("phone", "key-phone", p.Hello("h", V, "alice", link=code.code.lower(), device="phone"))
    assert isinstance(w, p.Welcome) and w.name == "alice" and w.device == "phone" and not w.resumed
    assert h.changes() == []                                      # alice was online already
    again = h.as_("tablet", "key-tablet", p.Hello("h", V, "alice", link=code.code))
    assert again.code == E.LINK_INVALID                           # used
    names = [(d.name, d.current, d.online) for d in h.as_("phone", "key-phone", p.ListDevices("d")).devices]
    assert names == [("device-1", False, True), ("phone", True, True)]


def test_an_expired_or_wrong_code_is_refused_and_guessing_is_slow(h: Devices) -> None:
    code = h.as_("alice", "key-alice", p.LinkDevice("l")).code
    h.now[0] += LINK_TTL + 1
    assert h.as_("x", "key-x", p.Hello("h", V, "alice", link=code)).code == E.LINK_INVALID
    good = h.as_("alice", "key-alice", p.LinkDevice("l")).code
    wrong = [h.as_("x", "key-x", p.Hello("h", V, "alice", link=f"AAAA-AAAA-AAA{i}")) for i in range(5)]
    assert {r.code for r in wrong} <= {E.LINK_INVALID, E.RATE_LIMITED} and wrong[-1].code == E.RATE_LIMITED
    refused = h.as_("x", "key-x", p.Hello("h", V, "alice", link=good))       # even the right code waits
    assert refused.code == E.RATE_LIMITED and refused.retry_after_ms > 60_000
    assert h.as_("y", "key-y", p.Hello("h", V, "nobody", link=good)).code == E.LINK_INVALID


def test_every_device_is_a_session_and_presence_is_the_accounts(h: Devices) -> None:
    h.link("phone", "key-phone")
    h.ask("bob", p.Send("s", p.dm_key("alice", "bob"), "to both of alice's", "c1"))
    assert [t for t, m in h.published(p.Message)] == [b"u:alice|", b"u:bob|"]   # once per user, not per device
    assert isinstance(h.as_("phone", "key-phone", p.Bye("b")), p.Ok)
    assert h.changes() == []                                      # a device leaving is no news
    assert h.hub.presence.state_of("alice") == "online"
    h.ask("alice", p.Bye("b"))
    assert h.changes() == [("alice", "left")]


def test_mark_read_on_one_device_reaches_the_others(h: Devices) -> None:
    h.link("phone", "key-phone")
    h.ask("bob", p.Send("s", "all", "hello", "c1"))
    ok = h.as_("phone", "key-phone", p.MarkRead("m", "all", 1))
    assert ok.seq == 1
    assert h.notices_to("alice") == [p.ReadMark("all", 1)] and h.notices_to("phone") == []


def test_a_revoked_device_is_cut_off_and_the_keys_it_held_change(h: Devices) -> None:
    h.ask("alice", p.CreateGroup("c", "team"))
    h.link("phone", "key-phone", "phone")
    before = {s: h.hub.access.keys.current(s)[0] for s in ("all", "u:alice", "g:team")}
    assert isinstance(h.as_("alice", "key-alice", p.RevokeDevice("r", "PHONE")), p.Ok)
    assert [type(n).__name__ for n in h.notices_to("phone")] == ["Ended"]
    rotated = {n.scope: n.epoch for n in h.notices_to("alice") if isinstance(n, p.KeyChange)}
    assert rotated == {s: e + 1 for s, e in before.items()}
    assert [(peer, tok is not None) for _, peer, tok in h.hub.to_cut] == [(peer_of("phone"), True)]
    assert h.as_("phone", "key-phone", p.Ping("p")).code == E.NOT_JOINED
    assert h.as_("phone", "key-phone", p.Hello("h", V, "alice")).code == E.NAME_TAKEN
    assert h.changes() == []                                      # alice stays online on her laptop


def test_the_last_device_cannot_be_revoked_and_an_unknown_one_is_named(h: Devices) -> None:
    assert h.as_("alice", "key-alice", p.RevokeDevice("r", "device-1")).code == E.LAST_DEVICE
    assert h.as_("alice", "key-alice", p.RevokeDevice("r", "toaster")).code == E.NO_SUCH_DEVICE


def test_an_admin_reset_lets_the_owner_back_in_with_a_new_key_and_the_history(h: Devices) -> None:
    h.ask("alice", p.Send("s", "all", "before the lost key", "c1"))
    result = h.hub.admin("reset", ["alice"])
    assert result["reset"] == "alice" and h.hub.devices_of("alice") == []
    assert [type(n).__name__ for n in h.notices_to("alice")] == []      # admin output is the broker's to send
    h.output()
    w = h.as_("new", "key-new", p.Hello("h", V, "alice", link=result["link_code"]))
    assert isinstance(w, p.Welcome) and w.device == "device-1"
    assert [m.text for m in h.as_("new", "key-new", p.History("h", "all")).messages] == ["before the lost key"]
    assert [e[1] for e in h.store.admin_log()] == ["reset"]


def test_a_banned_account_cannot_join_until_unbanned(h: Devices) -> None:
    assert h.hub.admin("ban", ["bob"]) == {"ban": "bob"}
    assert h.ask("bob", p.Ping("p")).code == E.NOT_JOINED
    assert h.ask("bob", p.Hello("h", V, "bob")).code == E.BANNED
    assert h.hub.admin("users", [])["users"][1] == {"name": "bob", "devices": 1, "banned": True, "state": "offline"}
    h.hub.admin("unban", ["bob"])
    assert isinstance(h.ask("bob", p.Hello("h", V, "bob")), p.Welcome)
    with pytest.raises(p.ProtocolError):
        h.hub.admin("ban", ["nobody"])


def test_admin_stats_count_what_is_there(h: Devices) -> None:
    h.link("phone", "key-phone")
    stats = h.hub.admin("stats", [])
    assert (stats["users"], stats["devices"], stats["sessions"], stats["online_users"]) == (2, 3, 3, 2)
    assert stats["bytes"] > 0 and stats["messages"] == 0


def test_a_group_joined_or_left_on_one_device_is_joined_or_left_on_the_others(h: Devices) -> None:
    h.link("phone", "key-phone")
    ok = h.as_("phone", "key-phone", p.CreateGroup("c", "team"))
    (notice,) = [n for n in h.notices_to("alice") if isinstance(n, p.Membership)]
    assert notice.conv == "g:team" and notice.info.kind == "group" and notice.key == ok.key
    assert h.notices_to("phone") == []
    h.as_("alice", "key-alice", p.LeaveGroup("l", "team"))
    assert [n for n in h.notices_to("phone") if isinstance(n, p.Membership)] == [p.Membership("g:team")]
