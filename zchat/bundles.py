"""Several messages in one frame (protocol 4, docs/PROTOCOL.md 3.1): how the broker packs a batch's
output for each receiver, and how a receiver takes a frame apart. zchat.protocol re-exports these."""
from __future__ import annotations

BUNDLE_SEP = b"\n"   # between the messages of one frame: encoded JSON never holds a raw LF
# A bundle is no bigger than one full-size line's frame (MAX_TEXT_BYTES + 1 KiB; tests/test_bundles.py
# holds the two together), so a queue bounded in frames (--pub-hwm, the ROUTER's REPLY_QUEUE) pins no
# more memory than it did with one message per frame.
BUNDLE_BYTES = 16 * 1024 + 1024


def bundle(payloads: list[bytes], cap: int = BUNDLE_BYTES) -> list[bytes]:
    """Encoded messages for one receiver (a topic, a connection) -> as few frames as hold them in
    order, each at most ``cap`` bytes (one too large to share goes alone), joined by BUNDLE_SEP.

    Why: the broker sends, seals and has libzmq encrypt per frame, and a receiver opens per frame;
    one frame for a batch's messages to one receiver makes the cost per message fall with the load."""
    if len(payloads) < 2:               # the usual case at a light load: the message is the frame
        return payloads
    frames: list[bytes] = []
    parts: list[bytes] = []
    size = -1
    for payload in payloads:
        size += len(payload) + 1
        if parts and size > cap:
            frames.append(BUNDLE_SEP.join(parts))
            parts, size = [], len(payload)
        parts.append(payload)
    if parts:
        frames.append(BUNDLE_SEP.join(parts))
    return frames


def bundle_each(pairs: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """(receiver, payload) in order -> (receiver, frame): each receiver's payloads bundled, in their
    order (the broker's replies and notices of a batch: one frame per connection, not one per reply)."""
    if len(pairs) < 2:
        return pairs
    each: dict[bytes, list[bytes]] = {}
    for receiver, payload in pairs:
        if (mine := each.get(receiver)) is None:
            each[receiver] = [payload]
        else:
            mine.append(payload)
    if len(each) == len(pairs):
        return pairs
    return [(r, frame) for r, mine in each.items() for frame in bundle(mine)]


def unbundle(data: bytes) -> list[bytes]:
    """A frame (opened, if published) -> its messages in order, each for zchat.protocol's decode_reply
    or decode_published."""
    return data.split(BUNDLE_SEP)
