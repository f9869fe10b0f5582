"""Tab completion for the terminal client's input line: commands after "/", user and group names
where a command expects them, ``@name`` anywhere, conversations for /switch, /device's words and
the devices /devices listed.

The names come from what the :class:`~zchat.frontends.cli_view.View` has seen; the commands
from the core's table, so a command the core gains completes without a change here.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.document import Document

from zchat.commands import COMMANDS, EXIT_WORD
from zchat.frontends.cli_view import View

MODERATION = ("kick", "ban", "unban", "op", "deop", "owner")     # /kick NAME [GROUP] ...
USER_ARGS = {"msg": 0, "invite": 0, **dict.fromkeys(MODERATION, 0)}   # command -> index of the user name argument
GROUP_ARGS = {"join": 0, "leave": 0, "who": 0, "invite": 1, **dict.fromkeys(MODERATION, 1)}
CONVERSATION_ARGS = ("switch", "close")            # commands whose argument is everyone, @NAME or #GROUP
DEVICE_WORDS = ("link", "revoke")                  # /device link | /device revoke NAME


class ChatCompleter(Completer):
    """Commands after "/", then user names and group names where a command expects them;
    ``@name`` anywhere; conversations for /switch."""

    def __init__(self, view: View) -> None:
        self.view = view

    def get_completions(self, document: Document, complete_event: Any) -> Iterable[Completion]:
        text = document.text_before_cursor
        word = document.get_word_before_cursor(WORD=True)
        if text.startswith("/") and " " not in text:
            words = [f"/{name}" for name in COMMANDS]
        elif text.startswith("/"):
            command, *args = text[1:].split(" ")
            index = len(args) - 1
            command = command.lower()
            if command in CONVERSATION_ARGS and index == 0:
                words = ["everyone"] + [f"@{u}" for u in self._users()] + [f"#{g}" for g in self._groups()]
            elif USER_ARGS.get(command) == index:
                words = self._users()
            elif GROUP_ARGS.get(command) == index:
                words = self._groups()
            elif command == "device" and index == 0:
                words = list(DEVICE_WORDS)
            elif command == "device" and index == 1 and args[0].lower() == "revoke":
                words = sorted(self.view.devices, key=str.lower)
            else:
                words = []
        elif word.startswith("@"):
            words = [f"@{u}" for u in self._users()]
        elif EXIT_WORD.startswith(text) and text.startswith("["):
            words = [EXIT_WORD]
        else:
            words = []
        for w in words:
            if w.lower().startswith(word.lower()) and w != word:
                yield Completion(w + " ", start_position=-len(word), display=w)   # ready for the next word

    def _users(self) -> list[str]:
        return sorted(self.view.users, key=str.lower)

    def _groups(self) -> list[str]:
        return sorted(self.view.groups, key=str.lower)
