"""zchat-echobot: a headless zchat frontend that answers every direct message with the same text.

An example of a third-party plugin: it uses only ``zchat`` (``hookimpl``, ``Launch``,
``events``) and never sees a socket, a JSON object or a plugin manager. Run it with
``python -m zchat --ui echobot [--name NAME] [--echobot-prefix TEXT] [--server CONNECT_STRING]``.
"""
from __future__ import annotations

import argparse

import zchat
from zchat.events import CommandFailed, ConnectionChanged, Event, Joined, JoinFailed, Left, MessageReceived

__version__ = "0.1.0"
POLL = 1.0   # seconds per wait for events: short enough that Ctrl-C is seen promptly


class EchoBot:
    """Joins as ``--name`` (default "echobot") and echoes direct messages until it is told to leave."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.name: str = options.name or "echobot"
        self.prefix: str = options.echobot_prefix

    def run(self, launch: zchat.Launch) -> int:
        with launch.client() as client:
            client.join(self.name)
            while True:   # events() returns after POLL quiet seconds; go round and wait again
                for event in client.events(timeout=POLL):
                    status = self.handle(client, event)
                    if status is not None:
                        return status

    def handle(self, client: zchat.Client, event: Event) -> int | None:
        """React to one event; a number means: exit with that status."""
        match event:
            case Joined(name=name):
                print(f"echobot: online as {name}", flush=True)
            case JoinFailed(message=message):
                print(f"echobot: could not join: {message}", flush=True)
                return 1
            case MessageReceived(kind="msg", own=False, history=False, conv=conv, sender=sender, text=text) \
                    if conv.startswith("dm:"):
                try:
                    client.dm(sender, self.prefix + text)
                except ValueError as exc:      # Client checks arguments: an echo past the size limit
                    print(f"echobot: cannot answer {sender}: {exc}", flush=True)
            case CommandFailed(message=message):
                print(f"echobot: {message}", flush=True)
            case ConnectionChanged(state="failed", detail=detail):
                print(f"echobot: giving up: {detail}", flush=True)
                return 1
            case Left(reason=reason):
                print(f"echobot: {reason}", flush=True)
                return 0
        return None


@zchat.hookimpl
def zchat_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--echobot-prefix", default="echo: ", metavar="TEXT",
                        help="echobot: text put before each reply (default: %(default)r)")


@zchat.hookimpl
def zchat_register_frontends(register: zchat.RegisterFrontend) -> None:
    register("echobot", EchoBot, help="a bot that answers every direct message with the same text")
