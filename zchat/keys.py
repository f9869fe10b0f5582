"""CURVE keys on the client side: one key pair per user name, and pinned broker keys.

A user's key pair is made on first use and kept in ``CONFIG_DIR/keys/NAME.key`` (0600):
it is the user's identity, since the broker binds a name to the first key that claims it.
The broker's public key comes from its connect string (or, for the local default broker,
from the connect file it writes) and is pinned per endpoint in ``CONFIG_DIR/servers.json``
on first use: a different key later fails closed with :class:`ServerKeyChanged`.
"""
from __future__ import annotations

import json
from pathlib import Path

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


def resolve_server(server: str | None, config_dir: Path) -> tuple[str, bytes]:
    """-> (endpoint, Z85 server key) from a connect string, or the local default broker's connect file;
    pins the key for the endpoint. Raises NoServer, ServerKeyChanged or ValueError (a bad string)."""
    if server is None:
        connect_file = default_data_dir() / "connect"
        if not connect_file.exists():
            raise NoServer(f"no local broker found ({connect_file} does not exist): start one with "
                           "`python -m zchat.broker`, or pass --server CONNECT_STRING as the broker printed it")
        server = connect_file.read_text().strip()
    endpoint, raw_key = p.parse_connect_string(server)
    key = raw_key.hex()
    pins_path = config_dir / "servers.json"
    pins = json.loads(pins_path.read_text()) if pins_path.exists() else {}
    pinned = pins.get(endpoint)
    if pinned is not None and pinned != key:
        raise ServerKeyChanged(
            f"the broker at {endpoint} now has key {key[:16]}..., but this client pinned {pinned[:16]}... on "
            f"first use. Someone may be impersonating it. If its owner really made a new key, remove the "
            f"{endpoint!r} entry from {pins_path} and connect again.")
    if pinned is None:
        pins[endpoint] = key
        write_private(pins_path, json.dumps(pins, indent=1, sort_keys=True) + "\n")
    return endpoint, z85.encode(raw_key)
