"""What a plugin author's test looks like: a real broker, the bot run as ``python -m zchat --ui echobot``,
and a zchat Client in the test talking to it. Every wait is bounded; no sleeps."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from zchat.client import Client
from zchat.events import Joined, MessageReceived
from zchat.protocol import MAX_TEXT_BYTES

WAIT = 20.0   # seconds: generous for a loaded CI machine; a healthy run takes well under one


class Proc:
    """A subprocess whose output lines are read by a thread into a queue, so waits can be bounded."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, env=env)
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix: str, timeout: float = WAIT) -> str:
        """The first output line starting with ``prefix``; fails after ``timeout`` or if the process ends."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line starting {prefix!r} within {timeout}s; output so far: {self.seen}")
            if line is None:
                pytest.fail(f"process exited ({self.popen.wait(5)}) before printing {prefix!r}: {self.seen}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Keep every zchat file of the test in tmp_path, and only the plugins this test is about."""
    return {**os.environ, "ZCHAT_DATA_DIR": str(tmp_path / "data"), "ZCHAT_CONFIG_DIR": str(tmp_path / "config"),
            "ZCHAT_PLUGINS": "echobot", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture
def connect(tmp_path: Path, env: dict[str, str], procs: list[Proc]) -> str:
    """Start a broker on a random port; its connect string."""
    broker = Proc("-m", "zchat.broker", "--bind", "tcp://127.0.0.1:*", "--data-dir", str(tmp_path / "broker"),
                  env=env)
    procs.append(broker)
    return broker.wait_for("connect string: ").removeprefix("connect string: ").strip()


def start_bot(tmp_path: Path, env: dict[str, str], procs: list[Proc], connect: str, *extra: str) -> Proc:
    bot = Proc("-m", "zchat", "--ui", "echobot", "--server", connect, "--config-dir", str(tmp_path / "bot"),
               *extra, env=env)
    procs.append(bot)
    return bot


def dm_and_wait_for_echo(tmp_path: Path, connect: str, bot_name: str, text: str) -> MessageReceived:
    with Client(connect, config_dir=tmp_path / "tester") as client:
        client.join("tester")
        sent = False
        for event in client.events(timeout=WAIT):     # stops after WAIT seconds without any event
            if isinstance(event, Joined) and not sent:
                client.dm(bot_name, text)
                sent = True
            elif isinstance(event, MessageReceived) and event.sender == bot_name and not event.own:
                return event
    pytest.fail(f"no answer from {bot_name} within {WAIT}s")


def test_echobot_answers_a_direct_message(tmp_path: Path, env: dict[str, str], procs: list[Proc],
                                          connect: str) -> None:
    bot = start_bot(tmp_path, env, procs, connect)
    bot.wait_for("echobot: online as echobot")
    reply = dm_and_wait_for_echo(tmp_path, connect, "echobot", "hello there")
    assert reply.text == "echo: hello there"
    assert reply.conv.startswith("dm:")


def test_echobot_name_and_prefix_options(tmp_path: Path, env: dict[str, str], procs: list[Proc],
                                         connect: str) -> None:
    bot = start_bot(tmp_path, env, procs, connect, "--name", "parrot", "--echobot-prefix", "> ")
    bot.wait_for("echobot: online as parrot")
    assert dm_and_wait_for_echo(tmp_path, connect, "parrot", "hi").text == "> hi"


def test_an_echo_over_the_size_limit_is_refused_and_the_bot_carries_on(tmp_path: Path, env: dict[str, str],
                                                                       procs: list[Proc], connect: str) -> None:
    bot = start_bot(tmp_path, env, procs, connect)
    bot.wait_for("echobot: online as echobot")
    with Client(connect, config_dir=tmp_path / "big") as client:     # a message exactly at the limit
        client.join("big")
        for event in client.events(timeout=WAIT):
            if isinstance(event, Joined):
                client.dm("echobot", "x" * MAX_TEXT_BYTES)
                break
        assert "at most" in bot.wait_for("echobot: cannot answer big:")
    assert dm_and_wait_for_echo(tmp_path, connect, "echobot", "still there?").text == "echo: still there?"


def test_echobot_is_listed(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "zchat", "--list-ui"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("echobot ")), "")
    assert "zchat-echobot 0.1.0" in line, result.stdout
