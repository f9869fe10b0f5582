"""Group commit for the SQLite store: the WAL is made durable on a thread of its own.

Why: with ``synchronous=FULL`` every COMMIT syncs the WAL inside the broker's loop, and the loop
sits in ``fdatasync`` (0.2-1 ms on the disks we measured) instead of deciding the next requests.
PostgreSQL's answer is group commit: one writer makes the log durable while the backends go on.
Here the store commits with ``synchronous=NORMAL`` (the WAL is written, not synced: tens of
microseconds) and this thread syncs the WAL file, covering every commit made before the sync
began. The loop holds each batch's replies and publishes until the ticket of its commit is
synced (zchat.broker_loop), so what an ``ok`` means does not change: nothing is acknowledged or
published before it is on disk, and output leaves in the order it was decided.

Why this is as safe as FULL: in WAL mode a commit only appends frames to the ``-wal`` file, and
``fdatasync`` on any descriptor of that file makes every write that returned before it durable.
The WAL only starts over after a checkpoint copied it into the database and synced that file
(SQLite does so at NORMAL too), so a sync never has to cover an older generation of the file.
A failed sync (EIO) is not retried: after one, Linux may have dropped the dirty pages
(PostgreSQL's "fsyncgate"), so the broker stops without acknowledging what it held.
"""
from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("zchat.store")


class WalSyncer:
    """Syncs ``wal_path`` whenever a ticket is asked for that is not synced yet.

    Tickets count upwards; ``synced`` is the highest one whose commits are on disk. The owner
    asks with :meth:`request` after committing, polls :meth:`fileno` (a byte arrives after each
    sync) and compares tickets with ``synced``."""

    def __init__(self, wal_path: str) -> None:
        self.wal_path = wal_path
        self.requested = 0          # the newest ticket asked for (the owner's thread writes it)
        self.synced = 0             # every commit before this ticket's request is on disk
        self.error: OSError | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._ino = 0
        self._fd_lock = threading.Lock()   # the thread and sync_now may both open the file
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def fileno(self) -> int:
        """Readable after a sync finished (or failed): poll it, then call :meth:`drain`."""
        return self._wake_r

    def drain(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def request(self, background: bool = True) -> int:
        """A new ticket for every commit made so far; ``background``: the thread syncs it as soon as it
        can (else the owner is about to call :meth:`sync_now`, and a second sync would be wasted)."""
        with self._cond:
            self.requested += 1
            ticket = self.requested
            if background:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="zchat-wal-sync", daemon=True)
                    self._thread.start()
                self._cond.notify()
        return ticket

    def sync_now(self) -> int:
        """Sync on the caller's thread (a rare write outside the batches: setup, admin commands), so
        that it is durable when this returns; returns its ticket, raises the OSError of a failed sync."""
        with self._cond:
            if self.error is None:
                self.requested += 1
                target = self.requested
        if self.error is None:
            self._sync(target)
        if self.error is not None:
            raise self.error
        return target

    def wait(self, ticket: int, timeout: float | None = None) -> bool:
        """Block until ``ticket`` is synced (or the sync failed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.synced >= ticket or self.error is not None, timeout)

    def stop(self) -> None:
        """Sync what was asked for, end the thread, close the descriptors; idempotent."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        if self.synced < self.requested and self.error is None:
            self._sync(self.requested)
        for fd in (self._fd, self._wake_r, self._wake_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd = None
        self._wake_r = self._wake_w = -1

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self.requested > self.synced or self._stopping)
                if self.requested <= self.synced or self.error is not None:
                    return            # stopping, with nothing left to sync (or nothing that can be)
                target = self.requested
            self._sync(target)
            try:
                os.write(self._wake_w, b"s")
            except (BlockingIOError, OSError):
                pass                  # the pipe is full of unread wake-ups already: one is enough
            if self.error is not None:
                return

    def _sync(self, target: int) -> None:
        """Make every commit requested up to ``target`` durable (commits made before this call)."""
        try:
            with self._fd_lock:       # held through the sync: a reopen must not close the fd under it
                os.fdatasync(self._wal_fd())
        except OSError as exc:
            log.critical("syncing %s failed: %s", self.wal_path, exc)
            with self._cond:
                self.error = exc
                self._cond.notify_all()
            return
        with self._cond:
            if target > self.synced:
                self.synced = target
            self._cond.notify_all()

    def _wal_fd(self) -> int:
        """A descriptor of the WAL file as it is now (opened again if the file was replaced; the
        directory is synced once per new file, so the file's name is durable too)."""
        ino = os.stat(self.wal_path).st_ino
        if self._fd is None or ino != self._ino:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = os.open(self.wal_path, os.O_RDONLY | os.O_CLOEXEC)
            self._ino = ino
            directory = os.open(os.path.dirname(os.path.abspath(self.wal_path)), os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        return self._fd
