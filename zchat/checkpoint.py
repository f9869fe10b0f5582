"""WAL checkpoints off the broker's hot loop, on their own thread and SQLite connection."""
from __future__ import annotations

import os
import sqlite3
import threading

WAL_SIZE_LIMIT = 64 * 1024 * 1024   # bytes the WAL file is cut back to when it starts over


def _is_memory(path: str) -> bool:
    return path in (":memory:", "") or path.startswith("file::memory:")


class Checkpointer:
    """Runs PRAGMA wal_checkpoint(PASSIVE) on its OWN connection in a daemon thread every
    `interval` seconds, so WAL checkpoints never run inside the broker's hot loop (they set
    p99 latency otherwise). PASSIVE never blocks the broker's writes; frames still in use
    are left for the next round.

    PASSIVE alone never lets the WAL start over while the broker writes without a pause: the
    next write restarts the WAL only if every frame has been copied back at that moment, and
    frames written during the checkpoint never are. Under steady load the WAL grew without
    bound (6 MB/s in bench P3: every commit appends whole pages). So once the WAL holds more
    than `restart_bytes` since it last started over, the round adds a RESTART checkpoint:
    it holds writers back (the broker's BEGIN waits) while it copies the few frames the
    PASSIVE left and syncs, and the next write starts the WAL over; the store's
    journal_size_limit then keeps the file at that size."""

    def __init__(self, path: str | os.PathLike[str], interval: float = 1.0,
                 restart_bytes: int = WAL_SIZE_LIMIT) -> None:
        self.path = os.fspath(path)
        self.interval = interval
        self.restart_bytes = restart_bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; a no-op for in-memory databases (nothing to checkpoint)."""
        if self._thread is not None:
            raise RuntimeError("Checkpointer already started")
        if _is_memory(self.path):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="zchat-checkpointer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Wake the thread at once and join it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            while not self._stop.wait(self.interval):
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames * page > self.restart_bytes:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                except sqlite3.OperationalError:
                    pass  # busy or locked: try again next interval
        finally:
            conn.close()
