"""The Client as a plugin author meets it: arguments checked in the caller's thread, an I/O thread
that cannot die silently, a start that reports its failure, and a closed client that says so.

Most of these need no broker: a Client whose server is a connect string nobody listens on
still starts its thread (libzmq redials in the background). The rest use a real broker.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.probe import Probe, msg
from zchat import events as ev
from zchat import protocol as p
from zchat.client import Client, ClientClosed, ClientError

NOWHERE = f"tcp://127.0.0.1:9#key={'ab' * 32}"      # a well-formed connect string; nothing listens there


@pytest.fixture
def offline(tmp_path: Path):
    """A Client for NOWHERE (never joined unless the test joins it), closed afterwards."""
    made: list[Client] = []

    def make() -> Client:
        made.append(Client(NOWHERE, config_dir=tmp_path / "cfg"))
        return made[-1]
    yield make
    for c in made:
        c.close()


# (call, the exception, a fragment of its message)
BAD_CALLS: list[tuple[str, Callable[[Client], Any], type, str]] = [
    ("send-int", lambda c: c.send(123), TypeError, "text must be a str, not int"),
    ("send-bytes", lambda c: c.send(b"hi"), TypeError, "not bytes"),
    ("send-empty", lambda c: c.send("  "), ValueError, "empty"),
    ("send-too-long", lambda c: c.send("x" * (p.MAX_TEXT_BYTES + 1)), ValueError, f"at most {p.MAX_TEXT_BYTES}"),
    ("send-lone-surrogate", lambda c: c.send("a\ud800"), ValueError, "lone surrogate"),
    ("send-bad-conv", lambda c: c.send("hi", "#team"), ValueError, "not a conversation key"),
    ("send-conv-int", lambda c: c.send("hi", 7), TypeError, "conv must be a str"),
    ("dm-bad-name", lambda c: c.dm("bad name!", "hi"), ValueError, "invalid name 'bad name!'"),
    ("dm-at-name", lambda c: c.dm("@bob", "hi"), ValueError, "invalid name '@bob'"),
    ("dm-text-none", lambda c: c.dm("bob", None), TypeError, "text must be a str, not NoneType"),
    ("create-hash", lambda c: c.create_group("#team"), ValueError, "invalid group name '#team'"),
    ("create-private-str", lambda c: c.create_group("team", "yes"), TypeError, "private must be a bool"),
    ("join-group-reserved", lambda c: c.join_group("all"), ValueError, "reserved"),
    ("leave-group-int", lambda c: c.leave_group(5), TypeError, "group name must be a str"),
    ("invite-bad-group", lambda c: c.invite("bob", "two words"), ValueError, "invalid group name"),
    ("who-bad-group", lambda c: c.who("x" * 33), ValueError, "invalid group name"),
    ("history-zero", lambda c: c.history(0), ValueError, "count must be from 1 to 1000"),
    ("history-too-many", lambda c: c.history(1001), ValueError, "count must be from 1 to 1000"),
    ("history-bool", lambda c: c.history(True), TypeError, "count must be an int"),
    ("history-str", lambda c: c.history("5"), TypeError, "count must be an int"),
    ("history-bad-conv", lambda c: c.history(5, "everyone"), ValueError, "not a conversation key"),
    ("switch-none", lambda c: c.switch(None), TypeError, "target must be a str"),
    ("close-empty", lambda c: c.close_conversation(" "), ValueError, "conv is empty"),
    ("execute-bytes", lambda c: c.execute(b"/help"), TypeError, "line must be a str"),
    ("execute-lone-surrogate", lambda c: c.execute("\udc00"), ValueError, "lone surrogate"),
    ("poll-zero", lambda c: c.poll_events(0), ValueError, "max_events must be >= 1"),
    ("events-negative", lambda c: next(c.events(timeout=-1)), ValueError, "timeout must be >= 0"),
    ("wakeup-not-callable", lambda c: c.set_wakeup("drain"), TypeError, "must be callable"),
    ("join-int", lambda c: c.join(42), TypeError, "name must be a str"),
]


@pytest.mark.parametrize("call, exc, fragment", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_arguments_raise_in_the_callers_thread(offline, call, exc, fragment) -> None:
    client = offline()
    with pytest.raises(exc, match=fragment.replace("(", r"\(")):
        call(client)
    assert not client.closed


def test_a_joined_client_survives_bad_calls_and_keeps_working(broker, tmp_path: Path) -> None:
    """The crash of issue 11: ``client.send(123)`` from a plugin used to kill the I/O thread."""
    with Client(broker.connect, config_dir=tmp_path / "cfg") as client:
        client.join("alice")
        probe = Probe(client)
        probe.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.LIVE)
        for name, call, exc, _ in BAD_CALLS:
            if name != "join-int":
                with pytest.raises(exc):
                    call(client)
        client.send("still here")
        assert probe.wait(msg("still here")).own
        client.send("\ud83d\ude00 a surrogate pair, as Tk may hand it over")
        probe.wait(msg("\U0001F600 a surrogate pair, as Tk may hand it over"))


def test_surrogate_pairs_in_typed_lines_are_joined(offline) -> None:
    client = offline()
    client.execute("\ud83d\ude00")       # no ValueError: a pair is a character, not a lone surrogate


# ---------------------------------------------------------------- the I/O thread cannot die silently

def _crash_by_action(client: Client) -> None:
    client._do(lambda session: 1 / 0)          # any action that raises on the I/O thread


def _crash_by_wakeup(client: Client) -> None:
    def broken() -> None:
        raise ZeroDivisionError("the frontend's wake-up is broken")
    client.set_wakeup(broken)
    client.execute("this line's echo calls the wake-up")


@pytest.mark.parametrize("crash", [_crash_by_action, _crash_by_wakeup], ids=["action", "wakeup"])
def test_a_crash_on_the_io_thread_becomes_failed_then_left(broker, tmp_path: Path, caplog, crash) -> None:
    caplog.set_level(logging.ERROR, logger="zchat.client")
    client = Client(broker.connect, config_dir=tmp_path / "cfg")
    try:
        client.join("alice")
        probe = Probe(client)
        probe.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.LIVE)
        crash(client)
        left = probe.wait(lambda e: isinstance(e, ev.Left))
        failed = [e for e in probe.seen if isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.FAILED]
        assert len(failed) == 1 and probe.seen.index(failed[0]) == len(probe.seen) - 2, probe.seen[-3:]
        assert "ZeroDivisionError" in failed[0].detail and "ZeroDivisionError" in left.reason
        crashes = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ZeroDivisionError]
        assert crashes and "I/O thread failed" in crashes[0].getMessage()
        assert client.closed
        with pytest.raises(ClientClosed, match="internal error .ZeroDivisionError"):
            client.execute("anyone there?")
        with pytest.raises(ClientClosed):
            next(client.events(timeout=5))    # nothing left: an error, not a wait for ever
        assert client.poll_events() == []
    finally:
        client.set_wakeup(None)
        client.close()


def test_a_thread_that_cannot_start_fails_join(tmp_path: Path) -> None:
    """The start hand-shake: a socket the thread cannot make or connect is raised by join() itself."""
    too_long = f"ipc://{tmp_path}/{'x' * 200}#key={'ab' * 32}"     # longer than a unix socket path can be
    client = Client(too_long, config_dir=tmp_path / "cfg")
    with pytest.raises(Exception, match="File name too long") as raised:
        client.join("alice")
    assert "ZMQError" in type(raised.value).__name__
    assert client.closed
    with pytest.raises(ClientClosed, match="could not start"):
        client.send("hello")
    client.close()


# ---------------------------------------------------------------- join and close

def test_an_invalid_name_is_refused_before_any_key_file_is_written(offline, tmp_path: Path) -> None:
    client = offline()
    client.join("bad name!")
    [failed] = list(client.events(timeout=5))
    assert isinstance(failed, ev.JoinFailed)
    assert (failed.name, failed.code) == ("bad name!", "name_invalid") and p.NAME_RULE in failed.message
    assert not (tmp_path / "cfg" / "keys").exists()
    assert client.closed and client.name is None
    with pytest.raises(ClientClosed, match="was refused"):
        client.execute("hello")


def test_join_twice_is_an_error(offline) -> None:
    client = offline()
    client.join("alice")
    with pytest.raises(ClientError, match="called already"):
        client.join("bob")


COMMAND_CALLS: list[Callable[[Client], Any]] = [
    lambda c: c.join("alice"), lambda c: c.execute("hi"), lambda c: c.send("hi"), lambda c: c.dm("bob", "hi"),
    lambda c: c.create_group("team"), lambda c: c.join_group("team"), lambda c: c.leave_group("team"),
    lambda c: c.invite("bob", "team"), lambda c: c.who(), lambda c: c.list_groups(), lambda c: c.history(),
    lambda c: c.switch("everyone"), lambda c: c.close_conversation("@bob"), lambda c: c.leave(),
    lambda c: next(c.events(timeout=1)),
]


@pytest.mark.parametrize("joined", [False, True], ids=["never-joined", "joined"])
def test_every_method_of_a_closed_client_says_it_is_closed(offline, joined: bool) -> None:
    client = offline()
    if joined:
        client.join("alice")
    client.close()
    client.poll_events(1000)      # what is left, if anything: never an error
    for call in COMMAND_CALLS:
        with pytest.raises(ClientClosed, match="cannot be used any more: the client was closed|no more events"):
            call(client)
    assert client.poll_events() == []
    client.set_wakeup(None)
    client.close()                # idempotent
    assert client.closed
