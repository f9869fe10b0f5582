"""A real Client and every event it delivers, waited on with deadlines (tests of the client core
and of plugins); the ``user`` fixture (tests/conftest.py) makes joined ones."""
from __future__ import annotations

import time
from collections.abc import Callable

from zchat import events as ev
from zchat.client import Client


class Probe:
    """A Client plus every event it has delivered, with bounded waits."""

    def __init__(self, client: Client) -> None:
        self.client, self.seen = client, []

    def wait(self, match: Callable[[ev.Event], bool], timeout: float = 10.0) -> ev.Event:
        for e in self.seen:
            if match(e):
                return e
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for e in self.client.events(timeout=min(left, 0.5)):
                self.seen.append(e)
                if match(e):
                    return e
                break
        raise AssertionError(f"no matching event in {timeout} s; last events: {self.seen[-8:]}")

    def wait_after(self, earlier: ev.Event, match: Callable[[ev.Event], bool], timeout: float = 10.0) -> ev.Event:
        """The first event matching ``match`` that came after ``earlier`` (that very object, not an equal one)."""
        start = next(i for i, e in enumerate(self.seen) if e is earlier) + 1
        return self.wait(lambda e: match(e) and any(x is e for x in self.seen[start:]), timeout)

    def texts(self, conv: str | None = None) -> list[str]:
        return [e.text for e in self.seen if isinstance(e, ev.MessageReceived) and e.kind == "msg"
                and (conv is None or e.conv == conv)]

    def drain(self) -> None:
        self.seen += self.client.poll_events(10_000)


def msg(text: str, conv: str | None = None) -> Callable[[ev.Event], bool]:
    return lambda e: isinstance(e, ev.MessageReceived) and e.text == text and (conv is None or e.conv == conv)
