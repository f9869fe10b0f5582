"""zchat: real-time chat on ZeroMQ.

The broker (``python -m zchat.broker``) keeps users, groups and history in SQLite and
talks CURVE-encrypted ZeroMQ; see docs/PROTOCOL.md for the wire protocol and
docs/ARCHITECTURE.md for how the package is split. ``python -m zchat`` runs a frontend;
docs/PLUGINS.md says how to write one.

The public names below are imported on first use (PEP 562), so ``import zchat.protocol``
pulls in neither zmq nor pluggy: the pure layers stay pure (tests/test_layering.py).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from zchat import events
    from zchat.client import Client
    from zchat.hookspecs import Frontend, RegisterFrontend, hookimpl
    from zchat.plugins import Launch

_LAZY = {
    "Client": "zchat.client",
    "hookimpl": "zchat.hookspecs",
    "Frontend": "zchat.hookspecs",
    "RegisterFrontend": "zchat.hookspecs",
    "Launch": "zchat.plugins",
}

__all__ = ["Client", "Frontend", "Launch", "RegisterFrontend", "__version__", "events", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name == "events":
        return importlib.import_module("zchat.events")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zchat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
