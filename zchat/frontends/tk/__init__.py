"""The desktop client: ``python -m zchat --ui tk``.

This module registers the frontend and must stay importable without tkinter (so ``--ui
cli`` works where Tk is missing): tkinter is imported inside :meth:`TkFrontend.run`. The
join screen is :mod:`.join`, the main window :mod:`.window` and :mod:`.widgets`, the
life cycle and the event pump :mod:`.app`.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from zchat.hookspecs import hookimpl


@hookimpl
def zchat_register_frontends(register: Callable[..., None]) -> None:
    register("tk", TkFrontend, help="desktop client (Tk)")


class TkFrontend:
    """Shows the join screen (name and server filled in from --name and --server), then the chat."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options

    def run(self, launch: Any) -> int:
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
        name = getattr(self.options, "name", None) or ""
        app = TkApp(root, launch.client, name=name, server=getattr(self.options, "server", None) or "",
                    config_dir=getattr(self.options, "config_dir", None))
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
