"""The bus between brokers that share a database: a small interface, and PostgreSQL's LISTEN/NOTIFY.

Each broker sends one bundle per committed batch (zchat.peers says what is in it) and hears the
others'. The interface is small on purpose, so another carrier (Redis pub/sub, NATS) can replace
LISTEN/NOTIFY without touching the hub: ``send`` payloads, ``fileno`` to poll, ``receive`` what
came. A bus may lose messages while it is down; it then hands the loop a RESYNC marker once it is
back, and the hub compares its memory with the store (a lost bundle costs latency, never data).

PostgreSQL's side: sending is a ``pg_notify`` on the broker's own store connection, in its own
statement after the commit (inside the data transaction it cost 31 % with two writers). Hearing
needs a connection of its own that blocks waiting, so a thread owns it (a ZeroMQ socket belongs
to one thread, and so does this connection) and wakes the loop through a pipe.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("zchat.broker")
RESYNC = ""                       # what receive() yields after the bus was down: compare with the store
CHANNEL = "zchat"
RETRY_MIN, RETRY_MAX = 0.1, 2.0   # seconds between attempts to listen again


class Bus(Protocol):
    def send(self, payloads: list[str]) -> None:
        """Deliver to every other broker (raises when it cannot: the caller keeps them and tries again)."""
        ...
    def fileno(self) -> int:
        """Readable when receive() has something."""
        ...
    def receive(self) -> list[str]:
        """What arrived since the last call, in order (RESYNC: the bus was down meanwhile)."""
        ...
    def close(self) -> None: ...


class PgBus:
    """LISTEN on a thread of its own; NOTIFY through ``notify(channel, payloads)`` (the store's)."""

    def __init__(self, url: str, notify: Callable[[str, list[str]], None], channel: str = CHANNEL) -> None:
        self.url, self.channel, self._notify = url, channel, notify
        self._inbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._stop = threading.Event()
        self.listening = threading.Event()        # set while LISTEN is in place (tests and start-up wait on it)
        self._thread = threading.Thread(target=self._run, name="zchat-bus", daemon=True)
        self._thread.start()

    def send(self, payloads: list[str]) -> None:
        self._notify(self.channel, payloads)

    def fileno(self) -> int:
        return self._r

    def receive(self) -> list[str]:
        try:
            os.read(self._r, 4096)
        except BlockingIOError:
            pass
        out = []
        while True:
            try:
                out.append(self._inbox.get_nowait())
            except queue.Empty:
                return out

    def _put(self, payload: str) -> None:
        self._inbox.put(payload)
        try:
            os.write(self._w, b"x")
        except BlockingIOError:         # the pipe is full: the loop is awake and will read the inbox anyway
            pass

    def _run(self) -> None:
        import psycopg  # only a broker on PostgreSQL needs it: pip install 'zchat[pg]'

        delay, first = RETRY_MIN, True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.listening.set()
                    if not first:
                        log.info("bus: listening again; comparing with the store for what was missed")
                        self._put(RESYNC)
                    first, delay = False, RETRY_MIN
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=0.5):
                            self._put(n.payload)
            except psycopg.Error as exc:
                if self.listening.is_set():
                    log.warning("bus: lost the database (%s); listening again when it is back", exc)
                self.listening.clear()
                first = False
                self._stop.wait(delay)
                delay = min(RETRY_MAX, delay * 2)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for fd in (self._r, self._w):
            os.close(fd)
