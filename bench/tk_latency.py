"""Tk client latency: a message's trip from the client's socket to drawn text, and how long a
keystroke waits during a 1,000-message flood. Prints one JSON line at the end.

In-process, under Xvfb (started here when DISPLAY is unset), against a real broker (its own
rate limits lifted, fsync on); the sender is another process (a plain Client) pacing its sends.
"Received" is when the client's I/O thread hands a published (sealed) frame to the session
(``ClientSession.receive_published``, which opens it, is wrapped in this process only);
"drawn" is when the message view holds the text after ``update_idletasks()`` at the end of the
pump's batch: every line the window hands to the message view (``ChatWindow._edit``, the one
path from a transcript change to the Text widget) is timed at the flush that ends its batch.
The run fails if fewer than 99% of the lines sent were measured (a hook that no longer sees
the draw path must not report a figure). Keystrokes come from xdotool; each
one's wait is from its X server timestamp (ms, CLOCK_MONOTONIC) to an ``after_idle`` after
Tk handled it (the entry redrawn).

    python bench/tk_latency.py [--seconds 5]      (needs Xvfb and xdotool)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import start_zchat, stop_zchat

SENDER = r"""
import sys, time
from zchat.client import Client
from zchat import events as ev
c = Client(sys.argv[1], config_dir=sys.argv[2]); c.join("bob")
for e in c.events(timeout=15):
    if isinstance(e, ev.ConnectionChanged) and e.state == "live": break
print("ready", flush=True)
for line in sys.stdin:
    rate, count, tag = line.split(); rate, count = float(rate), int(count)
    t0 = time.perf_counter()
    for i in range(count):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0: time.sleep(delay)
        c.execute(f"{tag} {i}")
        c.poll_events(1000)
    print("sent", flush=True)
c.close()
"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2) if s else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each paced run (default 5)")
    args = ap.parse_args()
    xvfb = None
    if not os.environ.get("DISPLAY"):
        n = next(n for n in range(150, 200) if not Path(f"/tmp/.X{n}-lock").exists())
        xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                                stderr=subprocess.DEVNULL)
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            time.sleep(0.02)
        os.environ["DISPLAY"] = f":{n}"
    tmp = Path(tempfile.mkdtemp(prefix="zchat-tkbench-"))
    broker, connect, data_dir = start_zchat(max_seconds=600)
    try:
        return _bench(connect.split(": ", 1)[1], tmp, args)
    finally:
        stop_zchat(broker, data_dir)
        if xvfb is not None:
            xvfb.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(server: str, tmp: Path, args: argparse.Namespace) -> int:
    import tkinter as tk

    from zchat import events as ev
    from zchat.client import Client
    from zchat.frontends.tk import window as win_mod
    from zchat.session import ClientSession

    received: dict[tuple[str, int], float] = {}
    orig_receive = ClientSession.receive_published

    def receive_published(self, topic, data, now):  # type: ignore[no-untyped-def]
        t, before = time.perf_counter(), len(self.events)
        orig_receive(self, topic, data, now)
        for e in self.events[before:]:
            if isinstance(e, ev.MessageReceived):
                received[(e.conv, e.seq)] = t
    ClientSession.receive_published = receive_published  # type: ignore[method-assign]

    batch: list[tuple[str, int]] = []
    latencies: list[float] = []
    orig_edit, orig_flush = win_mod.ChatWindow._edit, win_mod.ChatWindow.flush

    def _edit(self, conv, edits):  # type: ignore[no-untyped-def]
        orig_edit(self, conv, edits)
        if conv == self.current:
            batch.extend((conv, e[-1].seq) for e in edits if e[0] in ("append", "insert", "replace") and e[-1].seq)

    def flush(self):  # type: ignore[no-untyped-def]
        orig_flush(self)
        if batch:
            self.update_idletasks()
            t = time.perf_counter()
            latencies.extend(t - received[k] for k in batch if k in received)
            batch.clear()
    win_mod.ChatWindow._edit, win_mod.ChatWindow.flush = _edit, flush  # type: ignore[method-assign]

    from zchat.frontends.tk.app import TkApp
    root = tk.Tk()
    root.geometry("900x600+0+0")
    app = TkApp(root, lambda s: Client(s, config_dir=tmp / "cfg"), name="alice", server=server)
    app.join.submit()

    def pump(cond, timeout=30.0):  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            root.update()
            if cond():
                return True
            time.sleep(0.001)
        raise SystemExit("timed out")
    pump(lambda: app.window is not None)
    sender = subprocess.Popen([sys.executable, "-c", SENDER, server, str(tmp / "cfg")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, bufsize=1)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(sender.stdout), daemon=True).start()  # type: ignore[arg-type]
    pump(lambda: lines and app.window.presence.get("bob") == "online")
    result: dict[str, object] = {"bench": "tk_latency", "python": sys.version.split()[0], "tk": tk.TkVersion}
    for rate in (100, 1000):
        count = int(rate * args.seconds)
        latencies.clear()
        done = len(lines)
        sender.stdin.write(f"{rate} {count} r{rate}\n")  # type: ignore[union-attr]
        sender.stdin.flush()  # type: ignore[union-attr]
        pump(lambda done=done, rate=rate, count=count: len(lines) > done
             and f"bob: r{rate} {count - 1}" in app.window.view.content(), 120)
        if len(latencies) < 0.99 * count:
            raise SystemExit(f"only {len(latencies)} of {count} lines were timed: the hook misses the draw path")
        result[f"recv_to_drawn_{rate}_per_s"] = {"messages": count, "measured": len(latencies),
                                                 "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99),
                                                 "max_ms": pct(latencies, 1.0)}
    # keystrokes during a 1,000-message flood (sent at 1,000/s)
    waits: list[float] = []
    entry = app.window.entry

    def on_key(e):  # type: ignore[no-untyped-def]
        t_server = e.time
        root.after_idle(lambda: waits.append(((time.monotonic() * 1000 - t_server) % 2**32) / 1000))
    entry.bind("<KeyPress>", on_key, add="+")
    entry.focus_force()
    pump(lambda: entry.focus_get() == entry, 5)
    done = len(lines)
    sender.stdin.write("1000 1000 flood\n")  # type: ignore[union-attr]
    sender.stdin.flush()  # type: ignore[union-attr]
    pump(lambda: "bob: flood 100" in app.window.view.content())
    typed = "keys during the flood"
    xdo = subprocess.Popen(["xdotool", "type", "--delay", "30", typed])
    pump(lambda: xdo.poll() is not None)
    pump(lambda: len(lines) > done and "bob: flood 999" in app.window.view.content(), 60)
    result["keystroke_wait_during_1000_flood"] = {"keys": len(waits), "typed_ok": entry.get() == typed,
                                                  "p50_ms": pct(waits, 0.5), "p99_ms": pct(waits, 0.99),
                                                  "max_ms": pct(waits, 1.0)}
    sender.stdin.close()  # type: ignore[union-attr]
    sender.wait(10)
    app.finish(0)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
