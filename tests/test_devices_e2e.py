"""One person, several devices, end to end: real broker processes, the real client core, and the
admin command as a user would type it."""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq

from tests.probe import Probe, msg
from tests.rawclient import RawClient
from zchat import events as ev
from zchat import protocol as p


@pytest.fixture
def device(user: Callable[..., Probe]) -> Callable[..., Probe]:
    """device(name, cfg, link=None, live=True, joined=True): a Client for ``name`` with its own config
    dir (its own key, as a separate device has)."""
    return lambda name, cfg, **kw: user(name, cfg=cfg, **kw)


def link_code(probe: Probe) -> str:
    probe.client.link_device()
    return probe.wait(lambda e: isinstance(e, ev.LinkCodeMade)).code


def test_two_devices_of_alice_each_get_everything_once_and_share_read_state(device: Callable[..., Probe]) -> None:
    laptop = device("alice", "laptop")
    phone = device("alice", "phone", link=link_code(laptop))
    bob = device("bob", "bob")
    bob.wait(lambda e: isinstance(e, ev.PresenceChanged) and e.name == "alice" or isinstance(e, ev.Joined))
    dm = p.dm_key("alice", "bob")
    bob.client.dm("alice", "for alice, wherever she is")
    laptop.client.create_group("team")
    laptop.wait(lambda e: isinstance(e, ev.Info) and "created group team" in e.text)
    phone.client.join_group("team")
    phone.wait(lambda e: isinstance(e, ev.Info) and "joined group team" in e.text)
    bob.client.join_group("team")
    bob.wait(lambda e: isinstance(e, ev.Info) and "joined group team" in e.text)
    bob.client.send("to the team", "g:team")
    for d in (laptop, phone):
        d.wait(msg("for alice, wherever she is", dm))
        d.wait(msg("to the team", "g:team"))
    phone.client.send("sent from the phone", "g:team")
    own = laptop.wait(msg("sent from the phone", "g:team"))
    assert own.own                                         # the account's own line, on the other device
    for d in (laptop, phone):
        d.drain()
        assert d.texts(dm) == ["for alice, wherever she is"]            # exactly once each
        assert d.texts("g:team").count("to the team") == 1
    # read on the phone: the laptop's unread count for the DM clears
    unread = laptop.wait(lambda e: isinstance(e, ev.ConversationsChanged)
                         and any(c.conv == dm and c.unread for c in e.conversations))
    phone.client.switch("@bob")
    laptop.wait_after(unread, lambda e: isinstance(e, ev.ConversationsChanged)
                      and any(c.conv == dm and c.unread == 0 for c in e.conversations), timeout=15)
    phone.client.list_devices()
    listed = phone.wait(lambda e: isinstance(e, ev.DevicesListed)).devices
    assert [(d.online, d.current) for d in listed] == [(True, False), (True, True)]


def test_one_device_leaving_is_no_news_to_others(device: Callable[..., Probe]) -> None:
    laptop = device("alice", "laptop")
    phone = device("alice", "phone", link=link_code(laptop))
    bob = device("bob", "bob")
    phone.client.leave()
    phone.wait(lambda e: isinstance(e, ev.Left))
    laptop.client.send("still here")
    bob.wait(msg("still here"))
    bob.drain()
    assert not [e for e in bob.seen if isinstance(e, ev.PresenceChanged) and e.name == "alice"
                and e.reason in ("left", "lost", "timed_out")]


def test_a_revoked_device_is_cut_off_at_once(device: Callable[..., Probe], broker, ctx: zmq.Context) -> None:
    laptop = device("alice", "laptop")
    phone = device("alice", "phone", link=link_code(laptop))
    laptop.client.revoke_device("device-2")
    left = phone.wait(lambda e: isinstance(e, ev.Left), timeout=10)
    assert "revoked" in left.reason
    laptop.wait(lambda e: isinstance(e, ev.Info) and "revoked the device device-2" in e.text)
    laptop.client.list_devices()
    assert [d.name for d in laptop.wait(lambda e: isinstance(e, ev.DevicesListed)).devices] == ["device-1"]


def test_wrong_used_and_expired_link_codes_are_refused(device: Callable[..., Probe]) -> None:
    laptop = device("alice", "laptop")
    code = link_code(laptop)
    device("alice", "phone", link=code)
    for cfg, link in (("tablet", code), ("watch", "ZZZZ-ZZZZ-ZZZZ")):           # used, wrong
        d = device("alice", cfg, link=link, live=False, joined=False)
        failed = d.wait(lambda e: isinstance(e, ev.JoinFailed))
        assert failed.code == "link_invalid" and "wrong, used or expired" in failed.message


@pytest.mark.parametrize("broker_args", [("--heartbeat", "0.25",)])
def test_the_same_config_dir_twice_both_work_and_never_loop(device: Callable[..., Probe]) -> None:
    """Two clients started with the same key: each is its own session (no taking turns)."""
    first = device("alice", "same")
    second = device("alice", "same")
    bob = device("bob", "bob")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:                 # watching for a loop: nothing to wait for but time
        for d in (first, second):
            d.drain()
        time.sleep(0.2)
    for d in (first, second):
        assert sum(isinstance(e, ev.Joined) for e in d.seen) == 1, d.seen
    bob.client.send("to both")
    first.wait(msg("to both"))
    second.wait(msg("to both"))


def admin(broker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zchat.broker", "admin", "--data-dir", str(broker.data_dir), *args],
                          capture_output=True, text=True, timeout=30)


def test_a_lost_key_is_recovered_through_an_admin_reset(device: Callable[..., Probe], broker,
                                                        tmp_path: Path) -> None:
    old = device("alice", "old")
    old.client.send("written before the key was lost")
    old.wait(msg("written before the key was lost"))
    old.client.close()
    for key in (tmp_path / "old" / "keys").glob("*.key"):   # the key file is gone
        key.unlink()
    out = admin(broker, "reset", "alice")
    assert out.returncode == 0, out.stderr
    code = out.stdout.split("link code: ")[1].split()[0]
    back = device("alice", "old", link=code)
    back.wait(msg("written before the key was lost"))       # the same account, with its history
    listed = admin(broker, "devices", "alice").stdout
    assert listed.count("device-") == 1 and "(online)" in listed
    log = admin(broker, "log").stdout
    assert "reset alice" in log
    assert "admin: reset alice" in broker.output()


def test_admin_works_with_the_broker_stopped_and_bans_hold(device: Callable[..., Probe], broker) -> None:
    bob = device("bob", "bob")
    assert admin(broker, "ban", "bob").returncode == 0
    assert isinstance(bob.wait(lambda e: isinstance(e, ev.Left)), ev.Left)
    broker.stop()
    users = admin(broker, "users")
    assert users.returncode == 0 and "BANNED" in users.stdout
    assert admin(broker, "unban", "bob").returncode == 0
    assert admin(broker, "stats").stdout.startswith("users: 1")
    assert admin(broker, "ban", "nobody").returncode == 2


def test_a_revoked_device_reads_nothing_later_on_the_subscription_it_kept(client, ctx: zmq.Context) -> None:
    laptop = client("alice")
    code = laptop.call(p.LinkDevice).code
    phone = RawClient(ctx, laptop.endpoint and f"{laptop.endpoint}#key={laptop.server_key.hex()}")
    try:
        assert isinstance(phone.hello("alice", link=code), p.Welcome)   # subscribed to p|, all|, u:alice|
        phone.sync_subscriptions()
        assert isinstance(laptop.call(p.RevokeDevice, device="device-2"), p.Ok)
        phone.poll_notices(timeout=2.0)
        assert any(isinstance(n, p.Ended) for n in phone.notices)
        bob = client("bob")
        bob.say(p.dm_key("alice", "bob"), "after the revocation")
        bob.say("all", "to everyone after it")
        assert [m.text for m in laptop.messages(p.dm_key("alice", "bob"), 1)] == ["after the revocation"]
        assert phone.silent(lambda t, m: isinstance(m, p.Message), window=1.5)
    finally:
        phone.close()


def test_a_group_made_on_one_device_is_on_the_others_at_once(device: Callable[..., Probe]) -> None:
    laptop = device("alice", "laptop")
    phone = device("alice", "phone", link=link_code(laptop))
    bob = device("bob", "bob")
    phone.client.create_group("ops")
    laptop.wait(lambda e: isinstance(e, ev.ConversationsChanged) and any(c.conv == "g:ops" for c in e.conversations))
    bob.client.join_group("ops")
    bob.wait(lambda e: isinstance(e, ev.Info) and "joined group ops" in e.text)
    bob.client.send("hello ops", "g:ops")
    laptop.wait(msg("hello ops", "g:ops"))                 # subscribed, with the group's key
    laptop.client.leave_group("ops")
    phone.wait(lambda e: isinstance(e, ev.ConversationsChanged) and not any(c.conv == "g:ops"
                                                                            for c in e.conversations))
