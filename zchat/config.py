"""Where zchat keeps its files, and the defaults users do not have to type.

platformdirs gives the per-user data and config directories; ``ZCHAT_DATA_DIR`` and
``ZCHAT_CONFIG_DIR`` override them (so do ``--data-dir`` and ``--config-dir``). Key files
are written with mode 0600 before any secret goes into them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"


def number_option(kind: type[float] | type[int], zero_means: str | None = None) -> Callable[[str], float | int]:
    """An argparse ``type``: a finite number greater than 0, or 0 too when ``zero_means`` says what
    0 does ("never"). Shared by the broker's and the client's command lines."""
    def parse(text: str) -> float | int:
        try:
            value: float | int = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and zero_means is None):
            raise argparse.ArgumentTypeError(f"{text!r}: 0 ({zero_means}) or more expected" if zero_means
                                             else f"{text!r} must be greater than 0")
        return value
    return parse


def default_data_dir() -> Path:
    """The broker's data dir: database, server key and connect file."""
    env = os.environ.get("ZCHAT_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("zchat")) / "broker"


def default_config_dir() -> Path:
    """The client's config dir: user key pairs and pinned server keys."""
    env = os.environ.get("ZCHAT_CONFIG_DIR")
    return Path(env) if env else Path(platformdirs.user_config_dir("zchat"))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, atomically (a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_keypair(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys from a key file: a JSON object with "public" and "secret" (and maybe
    more, such as the user's "name"). The one format of both the broker's and the users' key files."""
    data = json.loads(path.read_text())
    return data["public"].encode(), data["secret"].encode()


def write_keypair(path: Path, public: bytes, secret: bytes, **extra: str) -> None:
    write_private(path, json.dumps({**extra, "public": public.decode(), "secret": secret.decode()}) + "\n")
