"""Every frame the broker sends fits in MAX_FRAME_BYTES: long lists are cut, or paged.

Pure helpers for the hub: ``fit`` keeps the longest run of items whose encoding fits one
frame (history, user lists), and ``page`` does the same from a cursor and says whether the
list is complete (the welcome's conversations, the group list), so a client that follows
the cursor gets everything, a frame at a time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from zchat import protocol as p

T = TypeVar("T")
FRAME_BUDGET = p.MAX_FRAME_BYTES - 1024   # room for the reply's own fields


def size_of(item: Any) -> int:
    """Bytes ``item`` takes in a JSON list (its encoding and a comma)."""
    return len(p.encode(item)) + 1


def fit(items: list[T], keep_first: bool, budget: int = FRAME_BUDGET) -> list[T]:
    """The longest run of ``items`` (from the front, or from the back) whose encoding fits ``budget``;
    at least one item, so a single oversize item still goes out (MAX_TEXT_BYTES keeps that rare)."""
    total, n = 0, 0
    for item in (items if keep_first else reversed(items)):
        total += size_of(item)
        if total > budget:
            break
        n += 1
    n = max(n, 1) if items else 0
    return items[:n] if keep_first else items[len(items) - n:]


def page(items: Sequence[T], key: Callable[[T], str], after: str | None, budget: int = FRAME_BUDGET,
         cost: Callable[[T], int] = size_of) -> tuple[list[T], bool]:
    """Items sorted by ``key`` that come after ``after``, as many as fit ``budget`` -> (page, complete)."""
    out: list[T] = []
    total = 0
    for item in items:
        if after is not None and key(item) <= after:
            continue
        total += cost(item)
        if total > budget and out:
            return out, False
        out.append(item)
    return out, True
