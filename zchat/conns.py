"""The broker's TCP connections, as the socket monitors report them, and which ones to cut.

libzmq accepts every connection and keeps it (its pipes, its CURVE state: 30-40 KB each)
for as long as the peer likes; it has no call to drop one peer. The broker therefore keeps
its own table: each connection's file descriptor from the monitor's ACCEPTED event, what
it proved since (a ROUTER connection: a session, by the routing id of its frames; an XPUB
connection: a live session's token, by its subscription frames), both learnt through
``ZMQ_SRCFD`` on the frames. The loop cuts (``shutdown(2)``; libzmq then closes it) any
connection beyond the cap, any that proved nothing within ``login_timeout`` seconds or
stopped being a live session's, and any XPUB peer that sends a frame that is not a
subscription (that frame is how the XPUB_MANUAL desync starts).

Pure code: the loop feeds events and asks what to cut.
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

ROUTER, XPUB = "router", "xpub"


@dataclass(slots=True)
class Conn:
    fd: int
    kind: str                        # ROUTER or XPUB
    opened: float
    peer: bytes | None = None        # ROUTER: the routing id its frames carry
    token: str | None = None         # XPUB: the session token its subscriptions carry
    idle_since: float | None = None  # when it was last seen holding nothing live (None: it holds something)
    was_cut: bool = False            # cut off; what it sent before is dropped unread


class ConnTable:
    """Connections by file descriptor; ``cap`` is how many may be open at once."""

    def __init__(self, cap: int, login_timeout: float, clock: Callable[[], float]) -> None:
        self.cap, self.login_timeout, self.clock = cap, login_timeout, clock
        self.conns: dict[int, Conn] = {}
        self.refused = 0                  # connections cut at once for the cap
        self.reaped = 0                   # connections cut for holding nothing live

    def __len__(self) -> int:
        return len(self.conns)

    def opened(self, fd: int, kind: str) -> bool:
        """A connection was accepted; False when it is over the cap (the caller cuts it)."""
        now = self.clock()
        self.conns[fd] = Conn(fd, kind, now, idle_since=now)
        if len(self.conns) > self.cap:
            self.refused += 1
            return False
        return True

    def closed(self, fd: int) -> Conn | None:
        return self.conns.pop(fd, None)

    def cut(self, fd: int) -> bool:
        """Mark the connection on ``fd`` cut; False if there is none, or it was cut already."""
        conn = self.conns.get(fd)
        if conn is None or conn.was_cut:
            return False
        conn.was_cut = True
        return True

    def was_cut(self, fd: int) -> bool:
        conn = self.conns.get(fd)
        return conn is not None and conn.was_cut

    def saw_peer(self, fd: int, peer: bytes) -> None:
        conn = self.conns.get(fd)
        if conn is not None and conn.kind == ROUTER:
            conn.peer = peer

    def saw_token(self, fd: int, token: str | None) -> None:
        conn = self.conns.get(fd)
        if conn is not None and conn.kind == XPUB and token:
            conn.token = token

    def idle(self, live_peer: Callable[[bytes], bool], live_token: Callable[[str], bool]) -> Iterator[int]:
        """The connections to cut: holding no live session (by peer or token) for login_timeout seconds."""
        now = self.clock()
        for conn in self.conns.values():
            live = (conn.peer is not None and live_peer(conn.peer)) if conn.kind == ROUTER else \
                (conn.token is not None and live_token(conn.token))
            if live:
                conn.idle_since = None
            elif conn.idle_since is None:
                conn.idle_since = now
            elif now - conn.idle_since > self.login_timeout:
                self.reaped += 1
                yield conn.fd


def cut(fd: int) -> None:
    """End a TCP (or IPC) connection libzmq owns without closing its descriptor: ``shutdown(2)``
    makes libzmq's next read see the end, and libzmq closes it, as if the peer had left."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:          # gone already
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()
