"""``python -m zchat.broker admin``: look after accounts, whether the broker runs or not.

When a broker runs on the data dir (it holds the data dir's lock), the command goes to it
over a local socket in the data dir (which only its owner can reach), and the broker does it
in its loop, so sessions end and keys change at once. When none runs, this process takes the
lock itself (so none can start meanwhile) and does the same operations on the database. Either
way the hub's code does the work (zchat.accounts), and every change is written to the admin
log in the database and logged.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import zmq

from zchat.broker_loop import ADMIN_SOCKET, STORE_FILE, open_store
from zchat.broker_setup import DataDirLock, StartupError
from zchat.config import default_data_dir
from zchat.errors import ProtocolError

TIMEOUT_MS = 10_000


class AdminRefused(Exception):
    """The running broker refused the command; the message says why."""
COMMANDS = {
    "users": ([], "list every account: devices, banned, online"),
    "devices": (["NAME"], "list an account's devices"),
    "revoke": (["NAME", "DEVICE"], "remove a device: its sessions end at once, its keys are replaced"),
    "reset": (["NAME"], "remove every device of an account and print a one-time link code (24 h) that "
                        "lets its owner link a new one: the way back for a lost key"),
    "ban": (["NAME"], "ban an account: it cannot join, and its sessions end"),
    "unban": (["NAME"], "lift a ban"),
    "stats": ([], "users, devices, sessions, conversations, messages, database size"),
    "log": ([], "the last admin actions"),
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m zchat.broker admin",
                                 description="Look after a zchat broker's accounts. Works whether the broker runs "
                                             "(the command goes to it) or not (the database is changed directly).")
    ap.add_argument("--data-dir", default=str(default_data_dir()), metavar="DIR",
                    help="the broker's data dir (default: %(default)s; env ZCHAT_DATA_DIR)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (args, what) in COMMANDS.items():
        cmd = sub.add_parser(name, help=what, description=what)
        for arg in args:
            cmd.add_argument(arg.lower(), metavar=arg)
    return ap


def run(data_dir: Path, command: str, args: list[str]) -> dict[str, Any]:
    """Do one admin command -> its result; ProtocolError (a refusal) or StartupError (no data dir)."""
    url = store_url(data_dir)
    if url is None and not (data_dir / "zchat.db").exists():
        raise StartupError(f"no broker database in {data_dir}: pass the broker's --data-dir")
    try:
        lock = DataDirLock(data_dir)
    except StartupError:            # a broker runs there: it does the work
        return _ask_broker(data_dir, url, command, args)
    try:
        return _offline(data_dir, url, command, args)
    finally:
        lock.release()


def store_url(data_dir: Path) -> str | None:
    """The --store the broker on this data dir uses (it writes it to DATA_DIR/store), or None: SQLite."""
    path = data_dir / STORE_FILE
    return path.read_text().strip() if path.exists() else None


def _offline(data_dir: Path, url: str | None, command: str, args: list[str]) -> dict[str, Any]:
    from zchat.hub import Hub
    store = open_store(url, data_dir, True)
    try:
        hub = Hub(store)
        if command == "log":
            return _log(store)
        with store.transaction():
            return hub.admin(command, args)
    finally:
        store.close()


def _log(store: Any) -> dict[str, Any]:
    return {"log": [{"ts": ts, "action": action, "detail": detail} for ts, action, detail in store.admin_log()]}


def _ask_broker(data_dir: Path, url: str | None, command: str, args: list[str]) -> dict[str, Any]:
    if command == "log":            # reading the log needs no broker: readers do not wait for the writer
        store = open_store(url, data_dir, True)
        try:
            return _log(store)
        finally:
            store.close()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    try:
        sock.connect(f"ipc://{data_dir / ADMIN_SOCKET}")
        sock.send(json.dumps({"command": command, "args": args}).encode())
        if not sock.poll(TIMEOUT_MS):
            raise StartupError(f"the broker running on {data_dir} did not answer within {TIMEOUT_MS // 1000} s")
        answer = json.loads(sock.recv())
    finally:
        sock.close(0)
    if not answer.get("ok"):
        raise AdminRefused(answer.get("error", "refused"))
    return dict(answer["result"])


def _text(command: str, result: dict[str, Any]) -> str:
    """The result for people: a table for lists, ``key: value`` lines for the rest."""
    def when(ts: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    if command == "users":
        rows = [f"{u['name']:<32} {u['devices']:>3} device(s)  {u['state']:<7}{'  BANNED' if u['banned'] else ''}"
                for u in result["users"]]
        return "\n".join(rows) or "(no users)"
    if command == "devices":
        return "\n".join(f"{d['name']:<32} created {when(d['created'])}  last seen {when(d['last_seen'])}"
                         f"{'  (online)' if d['online'] else ''}" for d in result["devices"]) or "(no devices)"
    if command == "log":
        return "\n".join(f"{when(e['ts'])}  {e['action']} {e['detail']}" for e in result["log"]) or "(empty)"
    if command == "reset":
        return (f"reset {result['reset']}: every device removed.\nlink code: {result['link_code']} "
                f"(valid until {when(result['expires'])}); the owner joins a new device with\n"
                f"  python -m zchat --name {result['reset']} --link {result['link_code']}")
    return "\n".join(f"{k}: {v}" for k, v in result.items())


def main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    args = [v for k, v in vars(a).items() if k not in ("data_dir", "json", "command")]
    try:
        result = run(Path(a.data_dir), a.command, args)
    except (ProtocolError, StartupError, AdminRefused) as exc:
        print(f"zchat admin: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1) if a.json else _text(a.command, result))
    return 0

