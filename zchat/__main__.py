"""``python -m zchat``: load the plugins, parse the command line, run the frontend picked by ``--ui``.

This module only wires things: the frontends come from plugins (the built-in ``cli``
included), and each frontend builds its own client through :class:`zchat.plugins.Launch`.
Errors a user can fix (no broker, a changed server key, a bad connect string, an unknown
``--ui``) end as one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from zchat import __version__
from zchat.config import default_config_dir, number_option
from zchat.errors import ZchatError
from zchat.plugins import DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, TRACE_ENV, FrontendInfo, Launch, Plugins, load_plugins
from zchat.session_features import IDLE_AFTER

DEFAULT_UI = "cli"
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The options every frontend shares; plugins add theirs with ``zchat_addoption``."""
    parser = argparse.ArgumentParser(
        prog="python -m zchat",
        description="Chat on a zchat broker with the frontend picked by --ui (default: cli, the terminal). "
                    "Frontends are plugins: --list-ui shows the installed ones.",
        epilog=f"environment: ZCHAT_CONFIG_DIR (default config dir), {DISABLE_AUTOLOAD_ENV}=1 (load only the "
               f"built-in plugins), {PLUGINS_ENV}=a,b (load only these plugins, plus the built-ins), "
               f"{TRACE_ENV}=1 (print every plugin hook call to stderr). See docs/PLUGINS.md.")
    parser.add_argument("--ui", default=DEFAULT_UI, metavar="NAME",
                        help="the frontend to run (default: %(default)s)")
    parser.add_argument("--list-ui", action="store_true",
                        help="list the installed frontends and plugins that failed to load, then exit")
    parser.add_argument("--list-plugins", action="store_true",
                        help="print every loaded plugin as JSON (name, distribution, version, the hooks it "
                             "implements), then exit")
    parser.add_argument("--name", metavar="NAME", help="the user name to join as (the frontend asks if omitted)")
    parser.add_argument("--link", metavar="CODE",
                        help="join an account you already use on another device: the one-time code that "
                             "device made (/device link there); this device gets its own key")
    parser.add_argument("--device", metavar="NAME",
                        help="what to call this device in the account when --link adds it (default: device-N)")
    parser.add_argument("--server", metavar="CONNECT_STRING",
                        help="the broker's connect string as it printed it (default: the local default broker)")
    parser.add_argument("--away-after", type=number_option(float, "never"), default=IDLE_AFTER, metavar="SECONDS",
                        help="show you as away after this long without typing or switching (0: never; "
                             "default: %(default)g); /away and /back set it by hand")
    parser.add_argument("--config-dir", type=Path, default=default_config_dir(), metavar="DIR",
                        help="your key pairs and pinned server keys (default: %(default)s)")
    parser.add_argument("--version", action="version", version=f"zchat {__version__}")
    return parser


def _dist(dist: str, version: str) -> str:
    return f"{dist} {version}".strip() or "-"


def list_ui(frontends: dict[str, FrontendInfo], plugins: Plugins) -> str:
    """The ``--list-ui`` table: each frontend with its help and distribution, then each failure."""
    rows = [(f"{info.name}{' (default)' if info.name == DEFAULT_UI else ''}", _dist(info.dist, info.version), info.help)
            for info in sorted(frontends.values(), key=lambda i: i.name)]
    lines = _table([("NAME", "DISTRIBUTION", "HELP"), *rows]) if rows else ["no frontends installed"]
    if plugins.failures:
        lines += ["", "plugins that failed:"]
        lines += _table([("PLUGIN", "DISTRIBUTION", "ERROR"),
                         *[(f.plugin, _dist(f.dist, f.version),
                            f.error if f.where == "load" else f"in {f.where}: {f.error}")
                           for f in plugins.failures]])
        if plugins.trace:
            lines += [f"\n{f.plugin} ({f.where}):\n{f.traceback.rstrip()}" for f in plugins.failures if f.traceback]
    lines += [f"note: {note}" for note in plugins.notes]
    return "\n".join(lines)


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    return [f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m zchat``; returns the exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ZchatError as exc:      # NoServer, ServerKeyChanged, ServerUnusable: the message says what to do
        print(f"zchat: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _main(argv: Sequence[str] | None) -> int:
    plugins = load_plugins()
    parser = build_parser()
    plugins.add_options(parser)
    frontends = plugins.frontends()
    args = parser.parse_args(argv)
    if args.list_ui:
        print(list_ui(frontends, plugins))
        return 0
    if args.list_plugins:
        print(json.dumps(plugins.describe(), indent=2))
        return 0
    for f in plugins.failures:
        print(f"zchat: warning: plugin {f.plugin!r} ({_dist(f.dist, f.version)}) failed"
              f"{'' if f.where == 'load' else ' in ' + f.where}: {f.error} (see --list-ui)", file=sys.stderr)
    info = frontends.get(args.ui)
    if info is None:
        known = ", ".join(sorted(frontends)) or "none"
        broken = [f for f in plugins.failures if f.plugin == args.ui and f.where == "load"]
        why = f"; a plugin of that name failed to load: {broken[0].error}" if broken else ""
        parser.error(f"unknown --ui {args.ui!r}{why}; known frontends: {known} (see --list-ui)")
    frontend = info.factory(args)
    status = frontend.run(Launch(options=args, observers=plugins.observers))
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
