"""The broker loop's side of the bus (zchat.bus): when to send, what to do with what arrives, and
which brokers are still there.

On the loop's thread. After each commit it sends the hub's bundle (zchat.peers), in its own
statement; a bundle that cannot be sent (the database went away) is kept and sent with the
next. Every heartbeat interval a broker that had nothing to say says it is alive; one silent for
DEAD_AFTER is taken for gone (killed, or cut off from the database), and the accounts it held
online stop being online here. A broker that starts (or whose bus came back) says ``hi``, and
the others answer with who is online on them; so does this one when a broker it took for gone
speaks again.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zchat.bus import RESYNC, Bus
from zchat.peers import pieces
from zchat.store_base import Touched

if TYPE_CHECKING:
    from zchat.hub import Hub
    from zchat.store_base import Line, SharedStore

log = logging.getLogger("zchat.broker")
DEAD_AFTER = 3.0              # seconds of silence (at least 3 heartbeats) before a broker counts as gone
MAX_KEPT = 10_000             # bundles kept while the bus is down; beyond, the others resync anyway


class PeerLink:
    def __init__(self, hub: Hub, store: SharedStore, bus: Bus, heartbeat: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub, self.store, self.bus, self.clock = hub, store, bus, clock
        self.every = heartbeat
        self.dead_after = max(DEAD_AFTER, 3 * heartbeat)
        self.heard: dict[str, float] = {}          # broker id -> when it was last heard
        self.gone: set[str] = set()                # brokers taken for gone (their sessions forgotten here)
        self.kept: list[str] = [self._hi()]
        self.next_alive = 0.0
        self.failing = False

    def _hi(self) -> str:
        return json.dumps({"b": self.hub.broker_id, "hi": 1})

    def committed(self, lines: list[Line]) -> None:
        """A batch committed: tell the others what moved."""
        heads: dict[str, int] = {}
        for line in lines:
            if not line.duplicate and line.seq > heads.get(line.conv, 0):
                heads[line.conv] = line.seq
        self.kept += self.hub.bundle(self.store.take_touched(), heads)
        self.send()

    def send(self) -> None:
        if not self.kept:
            return
        try:
            self.bus.send(self.kept)
        except Exception as exc:
            if not self.failing:
                log.warning("bus: cannot send (%s); keeping %d bundle(s) for later", exc, len(self.kept))
            self.failing = True
            del self.kept[:-MAX_KEPT]
            return
        if self.failing:
            log.info("bus: sending again")
        self.failing = False
        self.kept = []
        self.next_alive = self.clock() + self.every

    def readable(self) -> None:
        """Apply what the other brokers said. Each sender is stamped once its message is applied, not
        when the loop woke: applying a bundle may take seconds (a slow database), which is no silence
        of its sender or of the brokers whose messages waited behind it."""
        for payload in self.bus.receive():
            try:
                if payload == RESYNC:
                    self.kept.append(self._hi())
                    self.hub.resync()
                    continue
                bundle: dict[str, Any] = json.loads(payload)
                sender = str(bundle.get("b"))
                if sender == self.hub.broker_id:
                    continue
                if sender in self.gone and not bundle.get("hi"):
                    # taken for gone, yet alive (it was slow, or cut off and back): what it held online
                    # was forgotten here, so ask it (and the others) again
                    log.info("bus: broker %s speaks again; asking who is online on it", sender)
                    self.kept.append(self._hi())
                self.gone.discard(sender)
                if bundle.get("hi"):
                    self.kept += pieces(self.hub.broker_id, {"p": self.hub.presence.everyone_here()})
                self.hub.apply_bundle(bundle)
                self.heard[sender] = self.clock()
            except Exception as exc:       # the store went away meanwhile: compare everything once it is back
                log.warning("bus: could not apply what another broker said (%s); resyncing when the store "
                            "answers", exc)
                self.hub.stale = True
        self.send()

    def tick(self) -> None:
        """Presence changed by time (timeouts), liveness, and brokers that fell silent."""
        now = self.clock()
        self.kept += self.hub.bundle(Touched(), {})
        if not self.kept and now >= self.next_alive:
            self.kept.append(json.dumps({"b": self.hub.broker_id}))
        for broker, heard in list(self.heard.items()):
            if now - heard > self.dead_after:
                log.info("bus: broker %s fell silent; its sessions are gone", broker)
                del self.heard[broker]
                self.gone.add(broker)
                self.hub.broker_gone(broker)
        self.send()
