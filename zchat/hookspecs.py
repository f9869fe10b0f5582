"""The hooks a zchat plugin may implement, and the two protocols they hand around.

This module is the whole contract between zchat and its plugins (the built-in frontends
included): pluggy project ``zchat``, hook names prefixed ``zchat_``. Every hook is
documented with its exact signature in docs/PLUGINS.md; tests/test_plugins.py checks that.
It imports no toolkit and no sockets, so loading a plugin stays cheap.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from zchat.client import Client
    from zchat.events import Event, Notification
    from zchat.plugins import Launch

PROJECT = "zchat"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marker for plugin functions: ``@zchat.hookimpl def zchat_register_frontends(register): ...``"""


class Frontend(Protocol):
    """What a frontend factory returns: something that owns the main thread until the user quits."""

    def run(self, launch: Launch) -> int:
        """Build the client (``launch.client()``), ``join`` a name, draw events until Left; return the
        process exit status. Building the client here, not in ``python -m zchat``, lets a frontend ask
        for the server first (a join screen)."""
        ...


class RegisterFrontend(Protocol):
    """The ``register`` callback handed to :func:`zchat_register_frontends`."""

    def __call__(self, name: str, factory: Callable[[argparse.Namespace], Frontend], *, help: str) -> None:
        """Offer a frontend selectable with ``--ui NAME``; ``factory(options)`` is called only if it is
        picked, so heavy imports belong inside it."""
        ...


@hookspec
def zchat_addoption(parser: argparse.ArgumentParser) -> None:
    """Add command-line options to ``python -m zchat``.

    Called once per plugin, on the main thread, before the command line is parsed, for every
    loaded plugin (whichever ``--ui`` is picked). Prefix option names with your plugin's name
    (``--echobot-prefix``) so they cannot clash; a clash is reported as that plugin's failure.
    """


@hookspec
def zchat_register_frontends(register: RegisterFrontend) -> None:
    """Offer frontends by calling ``register(name, factory, help=...)`` once for each.

    Called once at start-up for every loaded plugin, including those the user did not pick, so
    keep it cheap: import tkinter (or any heavy toolkit) inside ``factory``, not at module top.
    The first plugin to register a name keeps it (built-ins load first); a later duplicate is
    reported by ``--list-ui``, not fatal.
    """


@hookspec
def zchat_event(client: Client, event: Event) -> None:
    """See every event the client core delivers: loggers, notifiers, bridges.

    Called on the frontend's thread, in order, as the frontend drains events (``poll_events``
    or ``events``), never on the I/O thread, and only for clients built with
    ``launch.client()``. It runs between screen updates, so return quickly. A plugin that
    raises here is reported once on stderr and not called again for that client.
    """


@hookspec
def zchat_notification(client: Client, notification: Notification) -> None:
    """See every notification the client core gives: a line that names the user, or a direct
    message (``zchat.events.Notification``), so a plugin can forward it elsewhere (a phone, a
    desktop notifier, a log).

    Called like ``zchat_event`` (which also sees it): on the frontend's thread, in order, as the
    frontend drains events, only for clients built with ``launch.client()``; not while the user's
    presence is "dnd" (the core gives no notifications then). Return quickly; a plugin that raises
    here is reported once on stderr and not called again for that client.
    """
