"""What the kernel can tell a test about a broker process and its connections (Linux /proc).

Attack tests need facts no protocol message gives: the broker's resident memory and open
descriptors, and whether bytes a client sent are already waiting in the broker's receive
queue (so a stopped broker will read them in a known order). Every wait here is bounded
by a deadline and polls a fact, it never sleeps to let something happen.
"""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import zmq
from zmq.utils.monitor import recv_monitor_message


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(fact: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> None:
    """Poll ``fact`` (a cheap read of state, not a synchronisation) until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not fact():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def all_threads_stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped (state T): kill(SIGSTOP) returns before they are,
    and a thread still running may read a socket the test wants left unread."""
    states = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except FileNotFoundError:      # a thread that ended meanwhile
            continue
    return bool(states) and all(state in ("T", "t") for state in states)


class Monitored:
    """A socket monitor started BEFORE connect, so no event can be missed."""

    def __init__(self, sock: zmq.Socket, events: int = zmq.EVENT_ALL) -> None:
        self.sock = sock
        self.mon = sock.get_monitor_socket(events)
        self.seen: list[dict] = []

    def wait(self, event: int, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        for e in self.seen:
            if e["event"] == event:
                self.seen.remove(e)
                return e
        while (left := deadline - time.monotonic()) > 0:
            if self.mon.poll(int(left * 1000)):
                e = recv_monitor_message(self.mon)
                if e["event"] == event:
                    return e
                self.seen.append(e)
        raise AssertionError(f"no {zmq.Event(event).name} within {timeout} s (saw {[x['event'] for x in self.seen]})")

    def close(self) -> None:
        self.sock.disable_monitor()
        self.mon.close(0)


def local_port(fd: int) -> int:
    """The local port of a TCP socket libzmq owns (read through a duplicate, never closing libzmq's)."""
    dup = os.dup(fd)
    s = socket.socket(fileno=dup)
    try:
        return s.getsockname()[1]
    finally:
        s.close()


def broker_rx_queue(server_port: int, client_port: int) -> int:
    """Bytes the kernel holds, unread, on the broker's side of the connection client_port -> server_port."""
    return _tcp_queue(server_port, client_port, rx=True)


def client_tx_queue(server_port: int, client_port: int) -> int:
    """Bytes a client's kernel still holds to send on its connection client_port -> server_port."""
    return _tcp_queue(client_port, server_port, rx=False)


def _tcp_queue(local_port: int, remote_port: int, rx: bool) -> int:
    want_local, want_remote = f"{local_port:04X}", f"{remote_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if local.endswith(":" + want_local) and remote.endswith(":" + want_remote):
                return int(queues.split(":")[1 if rx else 0], 16)
    return 0


def cut_own_links_to(port: int) -> int:
    """Shut down (as a network fault would) every TCP link this process has to 127.0.0.1:``port``:
    libzmq sees the link die and redials. Returns how many links were cut."""
    cut = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            s = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.family == socket.AF_INET and s.getpeername()[1] == port:
                s.shutdown(socket.SHUT_RDWR)
                cut += 1
        except OSError:
            pass
        finally:
            s.close()
    return cut
