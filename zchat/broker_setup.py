"""What the broker does once, before its loop: its key, its data dir, its limits, its addresses.

The data dir holds everyone's history and the server's secret key, so it is the owner's
alone (0700, files 0600), and one broker at a time uses it (an exclusive lock, held for
the broker's life: a second broker on the same dir would overwrite ``connect`` and then
fail every write).
"""
from __future__ import annotations

import fcntl
import os
import resource
import socket
from pathlib import Path
from urllib.parse import urlsplit

import zmq

from zchat.config import read_keypair, write_keypair

FD_RESERVE = 200              # open files kept back for the database, logs and listeners
LOCK_FILE = "broker.lock"
PRIVATE_FILES = ("zchat.db", "zchat.db-wal", "zchat.db-shm", "server.key", LOCK_FILE)


class StartupError(Exception):
    """The broker cannot start as asked (port taken, bad endpoint, unusable or busy data dir)."""


def load_server_key(data_dir: Path) -> tuple[bytes, bytes]:
    """The broker's CURVE key pair, made on first start and kept (0600) so restarts keep the connect string."""
    path = data_dir / "server.key"
    if path.exists():
        return read_keypair(path)
    public, secret = zmq.curve_keypair()
    write_keypair(path, public, secret)
    return public, secret


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir readable by its owner only, and make what an older broker left there so."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        for name in PRIVATE_FILES:
            if (data_dir / name).exists():
                os.chmod(data_dir / name, 0o600)
    except OSError as exc:
        raise StartupError(f"cannot use the data dir {data_dir}: {exc.strerror}") from None


class DataDirLock:
    """An exclusive flock on DATA_DIR/broker.lock for as long as the broker runs (the kernel drops it
    when the process dies, even by kill -9, so a crash never leaves a stale lock behind)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "another process"
            os.close(self.fd)
            raise StartupError(f"another broker (pid {holder}) is using the data dir {data_dir}; stop it, or "
                               "give this one its own --data-dir") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def fd_capacity() -> int:
    """Raise the soft open-file limit to the hard one; return how many clients fit (two connections each)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(1, (soft - FD_RESERVE) // 2)


def derive_pub_endpoint(bind: str) -> str:
    """The XPUB goes on a free port of the ROUTER's host: clients learn it from ``welcome``, so it
    needs no fixed number (and a fixed "port + 1" could be taken); --pub-bind pins one."""
    if bind.startswith("ipc://"):
        return bind + ".pub"
    host, _, _ = bind.rpartition(":")
    return f"{host}:*"


def advertised(endpoint: str, advertise: str | None) -> str:
    """An endpoint as clients should dial it: a wildcard host becomes --advertise or this host's name."""
    if not endpoint.startswith("tcp://"):
        return endpoint
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if advertise or host in ("0.0.0.0", "*", "::", ""):
        host = advertise or socket.gethostname()
    return f"tcp://{host}:{parts.port}"
