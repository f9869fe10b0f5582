"""zchat: real-time chat on ZeroMQ.

The broker (``python -m zchat.broker``) keeps users, groups and history in SQLite and
talks CURVE-encrypted ZeroMQ; see docs/PROTOCOL.md for the wire protocol and
docs/ARCHITECTURE.md for how the package is split.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
