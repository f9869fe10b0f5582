"""A private PostgreSQL cluster for tests: initdb in a temp dir, pg_ctl on a free loopback port.

The recipe of ../shared/engines/engines.sh: ``initdb -U zchat -A trust --no-sync``, then
``pg_ctl -w start`` with the socket in the cluster's dir. PostgreSQL refuses to run as root, so
as root every PostgreSQL binary runs as the ``postgres`` user (``runuser``) in a dir it owns.
Each test gets a database of its own (``fresh_db``), dropped afterwards.
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return Path(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One private cluster; ``url(db)`` is what ``--store`` takes."""
    _dbs = itertools.count(1)

    def __init__(self, fsync: bool = False) -> None:
        binary = pg_bin()
        if binary is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)")
        self.bin = binary
        self.base = Path(tempfile.mkdtemp(prefix="zchat-pg-"))
        os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.port = _free_port()
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.base, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "zchat", "-A", "trust", "-E", "UTF8", "--no-locale",
                  "--no-sync")
        self.options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                        f"-c fsync={'on' if fsync else 'off'} -c full_page_writes={'on' if fsync else 'off'}")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "30",
                  "-o", self.options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://zchat@127.0.0.1:{self.port}/{db}"

    def fresh_db(self) -> str:
        name = f"t{os.getpid()}_{next(self._dbs)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return name

    def drop_db(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)
