"""``python -m zchat.broker``: the broker's command line, start-up and signals.

The loop itself is zchat.broker_loop, its decisions zchat.hub; this module reads the options
and runs the loop until SIGINT or SIGTERM.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import sys
import time

from zchat import __version__
from zchat import protocol as p
from zchat.broker_loop import Broker, endpoint_of, log
from zchat.broker_setup import StartupError, fd_capacity
from zchat.config import DEFAULT_ENDPOINT, default_data_dir, number_option
from zchat.hub import DEFAULT_RATES, HubConfig


def _rate_limit(text: str) -> tuple[str, p.RateLimit]:
    """``KIND=PER_SEC/BURST``, e.g. ``message=20/100``."""
    kind, _, spec = text.partition("=")
    per_sec, _, burst = spec.partition("/")
    if kind not in set(p.RateKind):
        raise argparse.ArgumentTypeError(f"unknown limit {kind!r}: one of {', '.join(p.RateKind)}")
    try:
        limit = p.RateLimit(float(per_sec), int(burst))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: KIND=PER_SEC/BURST expected, e.g. message=20/100") from None
    if limit.per_sec <= 0 or limit.burst < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the rate must be above 0 and the burst at least 1")
    return kind, limit


def build_parser() -> argparse.ArgumentParser:
    rates = ", ".join(f"{k}={v.per_sec:g}/{v.burst}" for k, v in DEFAULT_RATES.items())
    ap = argparse.ArgumentParser(
        prog="python -m zchat.broker",
        description="The zchat broker: takes joins, commands and direct messages on a ZeroMQ ROUTER, fans "
                    "everyone and group traffic out over an XPUB, sealed per conversation, keeps history in "
                    "SQLite, and encrypts every socket with CURVE. On start it prints a 'connect string: ' line "
                    "(endpoint and server key) and writes the same string to DATA_DIR/connect; clients take "
                    "exactly that string.",
        epilog="Stop it with Ctrl-C or SIGTERM: it flushes and exits with status 0. A restart on the same "
               "data dir keeps users, groups, history and the server key; one broker at a time may use a "
               "data dir. Accounts and devices: python -m zchat.broker admin --help.")
    ap.add_argument("--bind", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                    help="where clients connect (ROUTER): tcp://HOST:PORT, tcp://HOST:* for a random port, or "
                         "ipc://PATH (default: %(default)s)")
    ap.add_argument("--pub-bind", metavar="ENDPOINT",
                    help="where clients subscribe (XPUB), announced to them in welcome; default: a free port on "
                         "the --bind host (set one for firewalls)")
    ap.add_argument("--advertise", metavar="HOST",
                    help="host name put in the connect string and welcome (default: the bound host, or this "
                         "machine's name when bound to 0.0.0.0)")
    ap.add_argument("--data-dir", default=str(default_data_dir()), metavar="DIR",
                    help="database, server key and connect file, readable by the owner only (default: "
                         "%(default)s; env ZCHAT_DATA_DIR)")
    ap.add_argument("--store", metavar="URL",
                    help="where history, accounts and groups live: postgresql://USER@HOST:PORT/DB lets several "
                         "brokers share one database (they fan out each other's messages; see docs/DEPLOY.md; "
                         "needs pip install 'zchat[pg]'); default: SQLite in DATA_DIR/zchat.db")
    ap.add_argument("--fsync", action=argparse.BooleanOptionalAction, default=True,
                    help="sync each batch to disk before acknowledging it, so an ok survives a power cut "
                         "(default: on). --no-fsync acknowledges once the OS has the data: an ok then survives "
                         "a killed broker, not a crashed machine, and a batch costs no disk wait")
    ap.add_argument("--max-clients", type=number_option(int), metavar="N",
                    help="users online at once; more are refused with 'server_full', and connections beyond "
                         "two per client are cut (default and maximum: what the open-file limit allows)")
    ap.add_argument("--login-timeout", type=number_option(float), default=10.0, metavar="SECONDS",
                    help="a connection that holds no live session this long is cut (default: %(default)s)")
    ap.add_argument("--heartbeat", type=number_option(float), default=2.0, metavar="SECONDS",
                    help="heartbeat interval; a client silent for 3 intervals counts as lost (default: %(default)s)")
    ap.add_argument("--zmtp-heartbeat", type=number_option(float, "off"), default=0.0, metavar="SECONDS",
                    help="also send ZMTP heartbeats on every link at this interval (default: off: TCP "
                         "keepalive closes dead links, and ZMTP heartbeats cost a CPU core at ~10,000 links)")
    ap.add_argument("--grace", type=number_option(float), default=60.0, metavar="SECONDS",
                    help="how long a lost client may come back before it times out (default: %(default)s)")
    ap.add_argument("--limit", type=_rate_limit, action="append", default=[], metavar="KIND=PER_SEC/BURST",
                    help=f"a per-user rate limit, repeatable; kinds and defaults: {rates}")
    ap.add_argument("--rate", type=number_option(float), metavar="PER_SEC",
                    help=f"messages to everyone per user per second (shorthand for --limit everyone=...; "
                         f"default: {DEFAULT_RATES[p.RateKind.EVERYONE].per_sec:g})")
    ap.add_argument("--rate-burst", type=number_option(int), metavar="N",
                    help=f"messages to everyone a user may send at once (default: "
                         f"{DEFAULT_RATES[p.RateKind.EVERYONE].burst})")
    ap.add_argument("--max-groups", type=number_option(int), default=500, metavar="N",
                    help="groups one user may be in (default: %(default)s)")
    ap.add_argument("--presence-interval", type=float, default=0.2, metavar="SECONDS",
                    help="publish presence changes at most this often, batched (a connect storm of N users "
                         "would otherwise cost one publish to every user per loop turn; default: %(default)s)")
    ap.add_argument("--history-page-max", type=number_option(int), default=200, metavar="N",
                    help="most messages one history reply carries (default: %(default)s)")
    ap.add_argument("--pub-hwm", type=number_option(int), default=10000, metavar="N",
                    help="published frames (one or more messages each, at most 64 KB) queued per subscriber "
                         "before a slow one starts missing live ones (it catches up from history; "
                         "default: %(default)s)")
    ap.add_argument("--io-threads", type=number_option(int), default=1, metavar="N",
                    help="libzmq I/O threads for each of the two server sockets' contexts: CURVE encryption "
                         "runs there, so more than one spreads it over cores (default: %(default)s)")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                    help="how much to log to stderr (default: %(default)s)")
    ap.add_argument("--version", action="version", version=f"zchat {__version__}")
    return ap


def hub_config(args: argparse.Namespace) -> HubConfig:
    rates = dict(DEFAULT_RATES)
    rates.update(args.limit)
    everyone = rates[p.RateKind.EVERYONE]
    rates[p.RateKind.EVERYONE] = p.RateLimit(args.rate or everyone.per_sec, args.rate_burst or everyone.burst)
    return HubConfig(max_clients=args.max_clients, history_page_max=args.history_page_max,
                     heartbeat_interval=args.heartbeat, heartbeat_timeout=args.heartbeat * 3, grace=args.grace,
                     rates=rates, presence_interval=args.presence_interval, max_groups=args.max_groups)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:
        from zchat.admin import main as admin_main
        return admin_main(argv[1:])
    ap = build_parser()
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.umask(0o077)          # everything the broker writes is its owner's alone (the connect file is opened up)
    capacity = fd_capacity()
    if args.max_clients is None:
        args.max_clients = capacity
    elif not 1 <= args.max_clients <= capacity:
        ap.error(f"--max-clients must be from 1 to {capacity}: each client needs two open files and the "
                 f"open-file limit is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    broker = Broker(args, hub_config(args))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)

    def stop(signum: int, _frame: object) -> None:
        broker.stopping = True
        log.info("%s: stopping", signal.Signals(signum).name)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.set_wakeup_fd(wake_w)
    try:
        connect = broker.bind()
    except (StartupError, OSError) as exc:
        print(f"zchat broker: error: {exc}", file=sys.stderr)
        broker.close()
        return 2
    print(f"zchat broker {__version__}: data in {broker.data_dir}, up to {args.max_clients} clients, "
          f"{'fsync before every ok' if args.fsync else 'no fsync (--no-fsync)'}", flush=True)
    print(f"{p.CONNECT_PREFIX}{connect}", flush=True)
    log.info("requests on %s, fan-out on %s", endpoint_of(broker.router), endpoint_of(broker.xpub))
    started = time.monotonic()
    try:
        broker.run(wake_r)
    finally:
        broker.close()
    log.info("stopped after %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
