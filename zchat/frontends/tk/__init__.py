"""The desktop client: ``python -m zchat --ui tk``.

This module registers the frontend and must stay importable without tkinter (so ``--ui
cli`` works where Tk is missing): tkinter is imported inside :meth:`TkFrontend.run`. The
join screen is :mod:`.join`, the main window :mod:`.window` and :mod:`.widgets`, the
life cycle and the event pump :mod:`.app`.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from zchat.hookspecs import hookimpl

if TYPE_CHECKING:
    from zchat.plugins import Launch


@hookimpl
def zchat_register_frontends(register: Callable[..., None]) -> None:
    register("tk", TkFrontend, help="desktop client (Tk)")


class TkFrontend:
    """Shows the join screen (filled in from --name, --server, --link and --device), then the chat."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options

    def run(self, launch: Launch) -> int:
        try:
            import tkinter as tk
        except ImportError as exc:
            print(f"zchat: error: the Tk frontend needs tkinter ({exc}); on Debian/Ubuntu: "
                  "apt-get install python3-tk, or use --ui cli", file=sys.stderr)
            return 2
        try:
            root = tk.Tk()
        except tk.TclError as exc:
            print(f"zchat: error: cannot open a window ({exc}); is DISPLAY set? --ui cli works without one",
                  file=sys.stderr)
            return 2
        from zchat.frontends.tk.app import TkApp
        opts = self.options
        name = getattr(opts, "name", None) or ""
        # --link and --device fill in the join screen, which passes what is there to join(): clients are
        # built without them as defaults, so a code the user clears (or that failed) is not used again
        plain = dataclasses.replace(launch, options=argparse.Namespace(**{**vars(opts), "link": None, "device": None}))
        app = TkApp(root, plain.client, name=name, server=getattr(opts, "server", None) or "",
                    link=getattr(opts, "link", None) or "", device=getattr(opts, "device", None) or "",
                    config_dir=getattr(opts, "config_dir", None))
        if name:                                      # --name given: join at once; errors show in place
            root.after_idle(app.join.submit)
        try:
            root.mainloop()
        except KeyboardInterrupt:
            if not app.done:
                app.finish(130)
            return 130
        if not app.done:
            app.finish(0)
        return app.status
