"""The gate on the broker's XPUB: which subscriptions are installed (XPUB_MANUAL), and which
connections are cut for asking what they may not read.

Access is by key, not by subscription (docs/ARCHITECTURE.md): every publish is sealed, so a
subscription alone reads nothing. The gate still refuses what a SUB's session may not read, so
that libzmq's per-connection topic lists cannot grow without bound, and it keeps libzmq 4.3.5's
XPUB queue from handing one peer's subscriptions to another (see :meth:`SubscriptionGate.drain`).
"""
from __future__ import annotations

import logging

import zmq

from zchat import protocol as p
from zchat.conns import ConnTable, cut
from zchat.hub import Hub

log = logging.getLogger("zchat.broker")
SUB_BATCH = 500               # subscription frames per loop turn at most, so a flood cannot starve requests
SUB_QUEUE = 20                # upstream frames libzmq reads ahead per XPUB connection
SUB_RCVBUF = 4 * 1024         # ... and the kernel buffers (SO_RCVBUF)
SUB_FRAME_MAX = 1024          # a subscription is a topic (under 40 bytes), the CURVE handshake's INITIATE
                              # with its metadata a few hundred: bigger frames drop the link


def frame_property(frame: zmq.Frame, name: str) -> str | None:
    """A ZMTP metadata property of the connection ``frame`` came on, or None if it has none."""
    try:
        value = frame.get(name)
    except zmq.ZMQError:
        return None
    return value if isinstance(value, str) else None


def srcfd(frame: zmq.Frame) -> int:
    """The descriptor of the connection ``frame`` came on (ZMQ_SRCFD), or -1 when libzmq kept none
    (a frame with no metadata)."""
    try:
        return frame.get(zmq.SRCFD)
    except zmq.ZMQError:
        return -1

class SubscriptionGate:
    """Reads the XPUB's upstream frames on the broker's loop thread (which owns the XPUB)."""

    def __init__(self, xpub: zmq.Socket[bytes], hub: Hub, conns: ConnTable, counts: dict[str, int]) -> None:
        self.xpub, self.hub, self.conns, self.counts = xpub, hub, conns, counts
        self.desynced = False            # an upstream non-subscription frame was read: see drain
        self.resubscribe: dict[str, set[str]] = {}     # session token -> topics to ask it for again

    def drain(self) -> bool:
        """XPUB_MANUAL: install a subscription only if the hub says the user whose session token the SUB
        presented may read the topic. Returns True when SUB_BATCH frames were handled and more may wait.

        libzmq 4.3.5 queues an upstream frame that is not a subscription without the pipe it came
        from, so after reading one, every subscription read until the queue is empty would be
        installed on the *next* subscriber's pipe (a stranger could take a victim's topics this way).
        So after such a frame nothing is installed until a read finds the queue empty; the sender
        is cut off, and the sessions whose subscriptions were skipped are asked to send them again."""
        xpub, hub, conns = self.xpub, self.hub, self.conns
        for _ in range(SUB_BATCH):
            try:
                frame = xpub.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                self.desynced = False
                self._ask_resubscribe()
                return False
            body = frame.bytes
            fd = srcfd(frame)
            if conns.was_cut(fd):          # what a peer sent before it was cut off: gone with it
                continue
            if not body or body[0] not in (0, 1):
                self.desynced = True
                self.counts["desync_frames"] += 1
                log.debug("cut an XPUB peer that sent a %d-byte frame that is not a subscription", len(body))
                self._cut(fd)
                continue
            token = frame_property(frame, p.SUB_TOKEN_PROPERTY)
            session = hub.session_of_token(token)
            conns.saw_token(fd, token if session is not None else None)
            topic = body[1:]
            if self.desynced:
                self.counts["refused_subscriptions"] += 1
                if body[0] == 1 and session is not None:
                    self.resubscribe.setdefault(session.sub_token, set()).add(topic.decode("ascii", "replace"))
            elif body[0] == 0:
                xpub.setsockopt(zmq.UNSUBSCRIBE, topic)
            elif hub.may_subscribe(token, topic):
                xpub.setsockopt(zmq.SUBSCRIBE, topic)
            else:
                # libzmq keeps every topic a peer asked for, approved or not, until its connection ends
                # (XPUB_MANUAL's "manual subscriptions"): a peer asking for what it may not read is cut,
                # or unique topics would grow the broker without bound. A well-behaved client never asks.
                self.counts["refused_subscriptions"] += 1
                log.debug("refused subscription to %r; cut that connection", topic[:80])
                self._cut(fd)
        return True

    def _cut(self, fd: int) -> None:
        if self.conns.cut(fd):
            cut(fd)

    def _ask_resubscribe(self) -> None:
        for token, topics in self.resubscribe.items():
            session = self.hub.session_of_token(token)
            if session is not None:
                self.hub.ask_resubscribe(session, sorted(topics))
        self.resubscribe.clear()
