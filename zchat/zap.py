"""The broker's ZAP handler: it names each CURVE client on the ROUTER by its public key (User-Id).

libzmq keeps the inproc pipe a connection's session opened to the ZAP handler for the whole life
of the connection, though it is used only during the handshake: about 20 KB per connected
client, which made the ZAP handler the largest single cost of an idle broker (bench P4: 9,900
clients, 204 MB of a raw CURVE broker's 574). Closing the handler's socket ends those pipes; so
the handler is rotated: once a second, if it answered anyone since the last rotation, a fresh
REP is bound to the ZAP endpoint and the old one, unbound, is still answered for ``GRACE``
seconds (a session writes its request in the same step in which it connects, so any session
that found the old socket has asked it by then) and then closed. The freed pages go back to the
system with malloc_trim(0) once 1,000 pipes have ended or the handshakes have stopped, at most
once per ``TRIM_GAP``.

The ROUTER sets ZMQ_ZAP_ENFORCE_DOMAIN: in the instant between unbinding the old socket and
binding the new one, a handshake fails closed (the client reconnects and asks again) instead of
passing unauthenticated.
"""
from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable

import zmq
from zmq.utils import z85

log = logging.getLogger("zchat.broker")
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ROTATE_EVERY = 1.0      # seconds between rotations, at most; none while nobody handshakes
GRACE = 1.0             # seconds a retired handler is still answered before it is closed
TRIM_AFTER = 1000       # pipes ended (about 20 KB each) before their memory is handed back: a trim
TRIM_GAP = 10.0         # walks every heap and can hold the loop for 20 ms, so a handshake flood
                        # gets at most one per TRIM_GAP seconds


def _malloc_trim() -> Callable[[], object]:
    """glibc's malloc_trim(0), or a no-op: freed pipes sit between live allocations of libzmq's
    I/O thread arena, and only this hands their pages back to the system."""
    try:
        trim = ctypes.CDLL(None).malloc_trim        # the process's own symbols: glibc's, on Linux
    except (OSError, AttributeError):               # another libc: nothing to call
        return lambda: None
    return lambda: trim(0)


class ZapHandler:
    """Answers ZAP requests on the current REP and on retired ones until they close.
    ``on_open``/``on_close`` tell the loop's poller which sockets to watch."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], on_open: Callable[[zmq.Socket[bytes]], object],
                 on_close: Callable[[zmq.Socket[bytes]], object], clock: Callable[[], float] = time.monotonic,
                 endpoint: str = ZAP_ENDPOINT) -> None:
        self.ctx, self.on_open, self.on_close, self.clock, self.endpoint = ctx, on_open, on_close, clock, endpoint
        self.current = self._bind()
        self.retired: list[tuple[zmq.Socket[bytes], float, int]] = []  # (socket, when it closes, answered)
        self.answered = 0                                              # by the current socket
        self.freed = 0                                                 # pipes ended since the last trim
        self.next_trim = clock()
        self.next_rotation = clock() + ROTATE_EVERY
        self.trim = _malloc_trim()

    def _bind(self) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(zmq.REP)
        sock.linger = 0
        sock.bind(self.endpoint)
        return sock

    @property
    def sockets(self) -> list[zmq.Socket[bytes]]:
        return [self.current, *(s for s, _, _ in self.retired)]

    def answer(self, sock: zmq.Socket[bytes]) -> None:
        """Accept every CURVE client and name it by its public key (z85): identity is the key."""
        while True:
            try:
                msg = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if sock is self.current:        # what a retired handler still answers is not a reason to rotate
                self.answered += 1
            version, request_id = msg[0], msg[1]
            mechanism, credentials = msg[5], msg[6:]
            if mechanism == b"CURVE" and credentials and len(credentials[0]) == 32:
                user_id, status, text = z85.encode(credentials[0]), b"200", b"OK"
            else:
                user_id, status, text = b"", b"400", b"CURVE required"
            sock.send_multipart([version, request_id, status, text, user_id, b""])

    def tick(self) -> None:
        """Once a second: trim (see TRIM_AFTER), close the retired handlers whose grace is over, and
        rotate if the current one answered anyone."""
        now = self.clock()
        # after 1,000 ended pipes, or once the handshakes have stopped (nothing retired is left to close);
        # the pipes were closed a tick ago at least, so libzmq's I/O threads have ended them by now
        if self.freed and now >= self.next_trim and (self.freed >= TRIM_AFTER or not self.retired):
            self.freed, self.next_trim = 0, now + TRIM_GAP
            self.trim()
        while self.retired and self.retired[0][1] <= now:
            sock, _, answered = self.retired.pop(0)
            self.answer(sock)
            self.on_close(sock)
            sock.close(0)
            self.freed += answered
            log.debug("ZAP handler closed: the pipes of the %d connections it named end", answered)
        if now >= self.next_rotation and self.answered:
            self.rotate()

    def rotate(self) -> None:
        """Bind a fresh handler; the old one is unbound at once and closed after GRACE."""
        old = self.current
        old.unbind(self.endpoint)
        try:
            self.current = self._bind()
        except zmq.ZMQError:                # (out of sockets, say): go on with the old one, bound again
            old.bind(self.endpoint)
            log.exception("could not open a new ZAP handler; keeping the old one")
            self.next_rotation = self.clock() + ROTATE_EVERY
            return
        self.on_open(self.current)
        now = self.clock()
        self.retired.append((old, now + GRACE, self.answered))
        log.debug("ZAP handler rotated after naming %d connections", self.answered)
        self.answered = 0
        self.next_rotation = now + ROTATE_EVERY

    def close(self, linger: int | None = None) -> None:
        for sock in self.sockets:
            sock.close(linger)
