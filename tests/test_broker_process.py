"""The broker as a program: --help, a taken port, signals, kill -9 and restarts on the same data dir."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.conftest import BULK
from zchat import protocol as p
from zchat.broker import build_parser


def run_broker(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zchat.broker", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_help_explains_every_option():
    out = run_broker("--help").stdout
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in out
    assert "connect string" in out


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--heartbeat", "0", "must be greater than 0"), ("--heartbeat", "nan", "must be greater than 0"),
    ("--grace", "inf", "must be greater than 0"), ("--max-clients", "-3", "must be greater than 0"),
    ("--rate", "soon", "is not a number"), ("--zmtp-heartbeat", "-1", "0 (off) or more expected"),
    ("--zmtp-heartbeat", "nan", "0 (off) or more expected")])
def test_a_number_option_out_of_range_is_a_usage_error(option, value, said, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([option, value])
    assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_zero_turns_zmtp_heartbeats_off():
    assert build_parser().parse_args(["--zmtp-heartbeat", "0"]).zmtp_heartbeat == 0.0


def test_a_taken_port_is_a_clear_error_not_a_silent_move(broker, tmp_path):
    endpoint, _ = p.parse_connect_string(broker.connect)
    result = run_broker("--bind", endpoint, "--data-dir", str(tmp_path / "second"))
    assert result.returncode != 0
    assert "cannot bind" in result.stderr and "in use" in result.stderr
    assert not (tmp_path / "second" / "connect").exists()


def test_connect_string_is_printed_and_written_alike(broker):
    printed = [line for line in broker.output().splitlines() if line.startswith(p.CONNECT_PREFIX)]
    assert printed == [p.CONNECT_PREFIX + broker.connect]
    endpoint, key = p.parse_connect_string(broker.connect)
    assert endpoint.startswith("tcp://127.0.0.1:") and len(key) == 32


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_broker_cleanly(broker, client, sig):
    client("alice").say("all", "before stop")
    assert broker.kill(sig) == 0
    assert "Traceback" not in broker.output()


def test_restart_keeps_users_groups_history_and_key(broker, client):
    alice = client("alice")
    alice.call(p.CreateGroup, group="ops", private=True)
    alice.say("g:ops", "kept")
    connect = broker.connect
    assert broker.kill(signal.SIGTERM) == 0
    assert broker.restart_on_same_port() == connect          # same endpoint, same server key
    again = client(keypair=(alice.public, alice.secret))
    welcome = again.hello("alice")
    ops = next(c for c in welcome.conversations if c.conv == "g:ops")
    assert (ops.head_seq, ops.private) == (2, True)
    assert [m.text for m in again.call(p.History, conv="g:ops").messages] == ["created", "kept"]
    assert client().hello("alice").code == "name_taken"      # still bound to alice's key


def pipeline(client, requests, window: int = 200, stop_after: int | None = None) -> dict[str, p.Reply]:
    """Send with at most ``window`` requests in flight (a client that stops reading loses its replies);
    returns replies by request id, stopping early after ``stop_after`` replies."""
    replies: dict[str, p.Reply] = {}
    pending = list(reversed(requests))
    in_flight = 0
    while pending or in_flight:
        while pending and in_flight < window:
            client.send(pending.pop())
            in_flight += 1
        reply = client.recv_reply(timeout=15)
        in_flight -= 1
        replies[reply.id] = reply
        if stop_after is not None and len(replies) >= stop_after:
            break
    return replies


@pytest.mark.parametrize("broker_args", [BULK])
def test_kill_9_mid_stream_loses_no_acknowledged_message_and_retries_store_once(broker, client):
    total = 3000
    alice = client("alice")
    alice.call(p.CreateGroup, group="stream")
    sends = [p.Send(id=f"m{i}", conv="g:stream", text=f"msg {i}", cmid=f"m{i}") for i in range(total)]
    acked = pipeline(alice, sends, stop_after=500)
    assert all(isinstance(r, p.Ok) for r in acked.values())
    assert broker.kill(signal.SIGKILL) == -signal.SIGKILL
    broker.restart_on_same_port()

    # the same DEALER (same key) reconnects by itself; replies to requests queued before are skipped
    alice.send(p.Hello(id="again", version=p.PROTOCOL_VERSION, name="alice"))
    while not isinstance(reply := alice.recv_reply(timeout=15), p.Welcome):
        assert reply.id != "again", reply
    retries = [p.Send(id="re-" + s.id, conv=s.conv, text=s.text, cmid=s.cmid) for s in sends]
    retried = {k[3:]: r for k, r in pipeline(alice, retries).items() if k.startswith("re-")}
    assert len(retried) == total and all(isinstance(r, p.Ok) for r in retried.values())
    assert any(not r.duplicate for r in retried.values()), "the kill came after the whole stream was stored"
    for cmid, ok in acked.items():                         # acknowledged before the kill: same seq, not doubled
        assert (retried[cmid].seq, retried[cmid].ts, retried[cmid].duplicate) == (ok.seq, ok.ts, True)

    texts, after = [], 0
    while True:
        page = alice.call(p.History, conv="g:stream", after=after)
        texts += [m.text for m in page.messages if m.kind == "msg"]
        after = page.to_seq
        if page.complete:
            break
    assert texts == [f"msg {i}" for i in range(total)]    # every message once, in order
