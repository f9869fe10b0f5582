"""CURVE keys on the client side: one key pair per user name, and pinned broker keys.

A user's key pair is made on first use and kept in ``CONFIG_DIR/keys/NAME.key`` (0600):
it is the user's identity, since the broker binds a name to the first key that claims it.
The broker's public key comes from its connect string (or, for the local default broker,
from the connect file it writes) and is pinned per host and port in ``CONFIG_DIR/servers.json``
on first use: a different key later for the same host and port, or for another name of the same
address (``localhost`` and ``127.0.0.1``), fails closed with :class:`ServerKeyChanged`.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zmq
from zmq.utils import z85

from zchat import protocol as p
from zchat.config import default_data_dir, read_keypair, write_keypair, write_private
from zchat.errors import ZchatError


class ServerKeyChanged(ZchatError):
    """The broker at an endpoint now shows a different key from the one pinned on first use."""


class NoServer(ZchatError):
    """No connect string was given and no local broker could be found."""


def user_keypair(config_dir: Path, name: str) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys of user ``name``, made on first use."""
    path = config_dir / "keys" / f"{p.canonical(name)}.key"
    if path.exists():
        return read_keypair(path)
    public, secret = zmq.curve_keypair()
    write_keypair(path, public, secret, name=name)
    return public, secret


def parse_endpoints(text: str) -> tuple[list[str], bytes]:
    """A connect string that may name several brokers sharing one key (``tcp://h1:5555,tcp://h2:5555#key=HEX``)
    -> (endpoints, 32-byte key); ValueError says what is wrong."""
    text = text.strip().removeprefix(p.CONNECT_PREFIX)
    endpoints, sep, key = text.partition("#key=")
    parsed = [p.parse_connect_string(f"{e.strip()}{sep}{key}") for e in endpoints.split(",")]
    if len({k for _, k in parsed}) != 1:
        raise ValueError("a connect string has one key for all its endpoints")
    return [e for e, _ in parsed], parsed[0][1]


def resolve_server(server: str | None, config_dir: Path) -> tuple[list[str], bytes]:
    """-> (endpoints, Z85 server key) from a connect string, or the local default broker's connect file;
    pins the key for each endpoint. Raises NoServer, ServerKeyChanged or ValueError (a bad string)."""
    if server is None:
        connect_file = default_data_dir() / "connect"
        if not connect_file.exists():
            raise NoServer(f"no local broker found ({connect_file} does not exist): start one with "
                           "`python -m zchat.broker`, or pass --server CONNECT_STRING as the broker printed it")
        server = connect_file.read_text().strip()
    endpoints, raw_key = parse_endpoints(server)
    key = raw_key.hex()
    pins_path = config_dir / "servers.json"
    pins = _load_pins(pins_path)
    for endpoint in endpoints:
        place = _place(endpoint)
        for pin in pins:
            if pin["port"] == place["port"] and pin["key"] != key and (
                    pin["host"] == place["host"] or set(pin["addresses"]) & set(place["addresses"])):
                raise ServerKeyChanged(
                    f"the broker at {endpoint} now has key {key[:16]}..., but this client pinned {pin['key'][:16]}"
                    f"... for {pin['host']}:{pin['port']} on first use. Someone may be impersonating it. If its "
                    f"owner really made a new key, remove that entry from {pins_path} and connect again.")
        if not any(pin["host"] == place["host"] and pin["port"] == place["port"] for pin in pins):
            pins.append({**place, "key": key})
            write_private(pins_path, json.dumps({"pins": pins}, indent=1, sort_keys=True) + "\n")
    return endpoints, z85.encode(raw_key)


def _place(endpoint: str) -> dict[str, Any]:
    """Where a broker is, as pins compare it: host name, port, and the addresses the name resolves to,
    so that ``localhost`` and ``127.0.0.1`` are one broker and cannot pin two keys."""
    if endpoint.startswith("ipc://"):
        path = os.path.realpath(endpoint[len("ipc://"):])
        return {"host": "ipc", "port": 0, "addresses": [path]}
    parts = urlsplit(endpoint)
    host, port = (parts.hostname or "").lower(), parts.port or 0
    try:
        addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except OSError:         # cannot resolve now: compare by name only
        addresses = []
    if host in ("localhost", "127.0.0.1", "::1"):
        addresses = sorted(set(addresses) | {"127.0.0.1", "::1"})
    return {"host": host, "port": port, "addresses": addresses}


def _load_pins(path: Path) -> list[dict[str, Any]]:
    """The pins file: {"pins": [{host, port, addresses, key}]}; an older {endpoint: key} file is read too."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if "pins" in data:
        return list(data["pins"])
    return [{**_place(endpoint), "key": key} for endpoint, key in data.items()]
