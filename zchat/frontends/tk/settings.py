"""What the Tk client remembers between runs: the window's size and place, in CONFIG_DIR/tk.json.

Pure (no tkinter): a saved geometry is used only if it fits the screen it comes back to, so
a window closed on a big monitor never opens off a laptop's screen. A missing or damaged
file means the defaults; saving never raises (a read-only config dir costs only the memory).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

FILE = "tk.json"
MIN_SIZE = (640, 400)
DEFAULT_SIZE = (1000, 640)
GEOMETRY_RE = re.compile(r"^(\d+)x(\d+)([+-]-?\d+)([+-]-?\d+)$")


def load(config_dir: Path) -> dict[str, object]:
    try:
        data = json.loads((config_dir / FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(config_dir: Path, **values: object) -> None:
    data = {**load(config_dir), **values}
    try:
        config_dir.mkdir(parents=True, exist_ok=True)
        tmp = config_dir / (FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(config_dir / FILE)
    except OSError:
        pass


def fitting(geometry: object, screen: tuple[int, int]) -> str | None:
    """``geometry`` ("WxH+X+Y") if the window lies on a screen of that size and is not below the
    minimum; the size alone if only the place is off the screen; None if it cannot be used."""
    m = GEOMETRY_RE.match(geometry) if isinstance(geometry, str) else None
    if m is None:
        return None
    w, h, x, y = int(m[1]), int(m[2]), int(m[3].replace("+", "")), int(m[4].replace("+", ""))
    if not (MIN_SIZE[0] <= w <= screen[0] and MIN_SIZE[1] <= h <= screen[1]):
        return None
    if 0 <= x <= screen[0] - w and 0 <= y <= screen[1] - h:
        return f"{w}x{h}+{x}+{y}"
    return f"{w}x{h}"
