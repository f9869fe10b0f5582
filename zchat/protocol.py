"""The zchat wire protocol: every frame that crosses a socket is built and checked here.

Pure code: no sockets, no storage (h11's rule). The messages themselves are the frozen
dataclasses of zchat.messages (re-exported here); ``encode`` turns one into UTF-8 JSON
bytes, and the ``decode_*`` functions turn *any* bytes into a typed message or raise
:class:`ProtocolError` carrying an :class:`ErrorCode`, never a KeyError,
JSONDecodeError, UnicodeDecodeError or RecursionError. docs/PROTOCOL.md describes this
module for people; tests/test_docs.py keeps the two in step.
"""
from __future__ import annotations

import enum
import json
import math
import os
import re
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields, is_dataclass
from functools import cache
from typing import Any

from zchat import compiled, vocab
from zchat.bundles import BUNDLE_BYTES, BUNDLE_SEP, bundle, bundle_each, unbundle
from zchat.errors import RETRYABLE, ErrorCode, ProtocolError
from zchat.messages import *  # noqa: F403  (the protocol's vocabulary is part of its API)
from zchat.messages import (
    CONTROL_RE,
    Edit,
    Error,
    KeyInfo,
    Notice,
    Published,
    React,
    Reply,
    Request,
    Search,
    Send,
    SetStatus,
    SetTopic,
)
from zchat.messages import __all__ as _messages_all

# the messages and vocabulary (zchat.messages), and what this module adds
__all__ = [*_messages_all, "CONNECT_PREFIX", "ErrorCode", "MAX_EMOJI_BYTES", "MAX_FRAME_BYTES", "MAX_ID_CHARS",
           "MAX_INT", "MAX_QUERY_BYTES", "MAX_REACTIONS", "MAX_STATUS_BYTES", "MAX_TEXT_BYTES", "MAX_TOPIC_BYTES",
           "QUOTE_CHARS", "TYPING_TTL",
           "MIN_VERSION", "NAME_MAX", "NAME_RULE", "NOTICE_TYPES", "PROTOCOL_VERSION", "PUBLISHED_TYPES",
           "ProtocolError", "REPLY_TYPES", "REQUEST_TYPES", "RESERVED_NAMES", "RETRYABLE", "ROUTING_ID_BYTES",
           "SUB_TOKEN_PROPERTY", "TOPIC_HEARTBEAT", "TOPIC_PRESENCE", "canonical", "check_name", "decode_published",
           "BUNDLE_BYTES", "BUNDLE_SEP", "bundle", "bundle_each", "unbundle",
           "decode_reply", "decode_request", "dm_key", "encode", "error", "format_connect_string", "group_key",
           "is_conversation_key", "is_random_routing_id", "is_valid_name", "key_info", "loads", "new_routing_id",
           "parse_connect_string", "sub_metadata", "topic", "user_topic"]

PROTOCOL_VERSION = 4             # 4: a published frame may carry several messages (unbundle)
MIN_VERSION = 4                  # 3: edit, delete, replies, reactions, mentions, chosen presence, typing, read
                                 # receipts, search, topics, /me, moderation (2: the fan-out is sealed)
MAX_FRAME_BYTES = 64 * 1024      # the broker also sets ZMQ_MAXMSGSIZE just above this: bigger frames drop the link
MAX_TEXT_BYTES = 16 * 1024       # UTF-8 bytes of one chat message
MAX_TOPIC_BYTES = 512            # a group's topic
MAX_STATUS_BYTES = 128           # a status text ("lunch")
MAX_EMOJI_BYTES = 32             # one reaction: an emoji (with its modifiers) or a short word such as +1
MAX_QUERY_BYTES = 256            # a search query
MAX_REACTIONS = 20               # different reactions on one line
QUOTE_CHARS = 100                # how much of the answered line a reply's quote carries
TYPING_TTL = 6.0                 # seconds a typing notice counts unless renewed
MAX_ID_CHARS = 64                # request ids and client message ids
MAX_INT = 2**53 - 1              # JSON-safe integers only (seqs, limits)
NAME_MAX = 32
NAME_RULE = "1-32 characters: ASCII letters, digits, '_' or '-', starting with a letter or digit"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
RESERVED_NAMES = frozenset({"all", "everyone", "server", "system", "zchat", "admin"})
_CONV_RE = re.compile(r"all|g:[a-z0-9][a-z0-9_-]{0,31}|dm:[a-z0-9][a-z0-9_-]{0,31}:[a-z0-9][a-z0-9_-]{0,31}")

TOPIC_PRESENCE = b"p|"           # presence changes, batched
TOPIC_HEARTBEAT = b"hb|"         # idle heartbeats carrying the everyone head seq
# ZMTP metadata property a SUB sets (ZMQ_METADATA) to the welcome's sub_token: the broker allows
# its subscriptions as that session's user's. It travels inside the CURVE handshake, encrypted.
SUB_TOKEN_PROPERTY = "X-Zchat-Token"


ROUTING_ID_BYTES = 16            # a DEALER's ZMQ_ROUTING_ID: this many random bytes, the first not 0


def sub_metadata(token: str) -> bytes:
    """The ZMQ_METADATA option value a SUB sets before it connects."""
    return f"{SUB_TOKEN_PROPERTY}:{token}".encode()


def new_routing_id() -> bytes:
    """A DEALER's routing id: random, so no other peer can guess it and take over its replies
    (libzmq's own ids are a counter; ids starting with a 0 byte are libzmq's)."""
    rid = os.urandom(ROUTING_ID_BYTES)
    return bytes((rid[0] | 1,)) + rid[1:]


def is_random_routing_id(peer: bytes) -> bool:
    return len(peer) >= ROUTING_ID_BYTES and peer[0] != 0


def key_info(scope: str, epoch: int, key: bytes) -> KeyInfo:
    return KeyInfo(scope, epoch, key.hex())

REQUEST_TYPES: dict[str, type] = {c.TYPE: c for c in typing.get_args(Request)}
REPLY_TYPES: dict[str, type] = {c.TYPE: c for c in typing.get_args(Reply)}
PUBLISHED_TYPES: dict[str, type] = {c.TYPE: c for c in typing.get_args(Published)}
NOTICE_TYPES: tuple[type, ...] = typing.get_args(Notice)     # replies that answer no request (no id)


# ---------------------------------------------------------------- names and topics

def canonical(name: str) -> str:
    """Names are unique without regard to case: this is the key they are stored under."""
    return name.lower()


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it follows NAME_RULE and is not reserved, else raise NAME_INVALID."""
    if not _NAME_RE.fullmatch(name):
        raise ProtocolError(ErrorCode.NAME_INVALID, f"invalid {what} {name!r}: {NAME_RULE}")
    if canonical(name) in RESERVED_NAMES:
        raise ProtocolError(ErrorCode.NAME_INVALID, f"{what} {name!r} is reserved")
    return name


def is_valid_name(name: str) -> bool:
    return _NAME_RE.fullmatch(name) is not None and canonical(name) not in RESERVED_NAMES


def is_conversation_key(conv: str) -> bool:
    return _CONV_RE.fullmatch(conv) is not None


def dm_key(a: str, b: str) -> str:
    """The conversation key of the direct messages between two users (order does not matter)."""
    x, y = sorted((canonical(a), canonical(b)))
    return f"dm:{x}:{y}"


def group_key(group: str) -> str:
    return f"g:{canonical(group)}"


def topic(conv: str) -> bytes:
    """The PUB topic of the everyone conversation or a group; ``|`` ends it so no topic prefixes another."""
    return conv.encode() + b"|"


def user_topic(name: str) -> bytes:
    """A user's own topic: their direct messages and the notices meant for them alone."""
    return b"u:" + canonical(name).encode() + b"|"


def error(request_id: str | None, code: ErrorCode, message: str, retry_after_ms: int | None = None) -> Error:
    """The one way to build an error reply, so ``retryable`` always agrees with the code."""
    return Error(request_id, code.value, message, code in RETRYABLE, retry_after_ms)


# ---------------------------------------------------------------- encoding

@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """The field names of a message dataclass (None for anything else), looked up once per class."""
    return tuple(f.name for f in fields(cls)) if is_dataclass(cls) else None


_LEAVES = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    t: type = type(value)
    if t in _LEAVES:
        return value
    names = _field_names(t)
    if names is not None:
        out = {}
        for name in names:
            v = getattr(value, name)
            if v is not None:
                out[name] = v if type(v) in _LEAVES else _plain(v)
        return out
    if t is list:
        return [_plain(v) for v in value]
    if t is dict:
        return {k: v if type(v) in _LEAVES else _plain(v) for k, v in value.items()}
    return value


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _generic(value: Any) -> str:
    """The plain dict of ``value`` (``"type"`` last, for a message) through the generic encoder:
    the definition of a frame's bytes (zchat.compiled makes the same bytes faster)."""
    body = _plain(value)
    if hasattr(value, "TYPE"):
        body["type"] = value.TYPE
    return _dumps(body)


# the values msgspec writes as the generic encoder does: str, int, bool, None, and the vocabulary's
# enums (a StrEnum member is its value to both; Message.kind is a MessageKind on the hot path)
_LEAF_TYPES = frozenset({str, int, bool, type(None)} | {
    t for t in vars(vocab).values() if isinstance(t, type) and issubclass(t, enum.Enum) and issubclass(t, (str, int))})


@cache
def _encoder(cls: type) -> Callable[[Any], bytes]:
    """The msgspec encoder of a message class (zchat.compiled); the generic path for anything else."""
    if _field_names(cls) is None:
        return lambda value: _generic(value).encode()
    return compiled.make_encoder(cls, _generic, _LEAF_TYPES)


def encode(msg: Any) -> bytes:
    """A message dataclass -> one UTF-8 JSON frame; fields that are None are left out.
    (A nested item without a TYPE encodes as its bare object: used to measure sizes.)"""
    cls: type = type(msg)
    return _encoder(cls)(msg)


# ---------------------------------------------------------------- decoding

def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


_json = json.JSONDecoder(parse_constant=_reject_constant)


def loads(data: bytes) -> dict[str, Any]:
    """Bytes -> a JSON object, or ProtocolError (too_large, bad_utf8, bad_json)."""
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"frame of {len(data)} bytes is over {MAX_FRAME_BYTES}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_UTF8, f"frame is not UTF-8 (byte {exc.start})") from None
    try:
        obj = _json.decode(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"frame is not JSON: {exc}"[:200]) from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "frame is JSON but not an object")
    return obj


Check = Callable[[Any], Any]  # returns the checked value or raises ValueError with a reason


def _check_str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a string expected")
    if not v.isascii():
        try:
            v.encode()
        except UnicodeEncodeError:
            raise ProtocolError(ErrorCode.BAD_UTF8, "holds a lone surrogate, which is not UTF-8") from None
    return v


def _check_int(v: Any) -> int:
    if type(v) is not int or not 0 <= v <= MAX_INT:
        raise ValueError(f"an integer from 0 to {MAX_INT} expected")
    return v


def _check_float(v: Any) -> float:
    if type(v) is int:
        try:
            return float(v)
        except OverflowError:       # over 1.8e308
            raise ValueError("a finite number expected") from None
    if type(v) is not float or not math.isfinite(v):
        raise ValueError("a finite number expected")
    return v


def _check_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise ValueError("true or false expected")
    return v


_SCALARS: dict[Any, Check] = {str: _check_str, int: _check_int, float: _check_float, bool: _check_bool}


def _checker(hint: Any) -> Check:
    """Build the check for one annotation: scalars, X | None, list[X], dict[str, int], nested dataclasses."""
    if hint in _SCALARS:
        return _SCALARS[hint]
    bare, optional = compiled.without_none(hint)
    if optional:
        inner = _checker(bare)
        return lambda v: None if v is None else inner(v)
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin is list:
        item = _checker(args[0])

        def check_list(v: Any) -> list[Any]:
            if not isinstance(v, list):
                raise ValueError("a list expected")
            return [item(x) for x in v]
        return check_list
    if origin is dict:
        key, val = _checker(args[0]), _checker(args[1])

        def check_dict(v: Any) -> dict[Any, Any]:
            if not isinstance(v, dict):
                raise ValueError("an object expected")
            return {key(k): val(x) for k, x in v.items()}
        return check_dict
    if isinstance(hint, type) and is_dataclass(hint):
        nested: type = hint
        return lambda v: _build_checked(nested, v, None)
    raise TypeError(f"no decoder for {hint!r}")  # a bug in zchat.messages, found at import time by the tests


@cache
def _plan(cls: type) -> list[tuple[str, Check, bool, bool]]:
    """(name, check, required, optional) per field: a field that may be None may also be left out."""
    hints = typing.get_type_hints(cls)
    return [(f.name, _checker(hints[f.name]), f.default is MISSING and f.default_factory is MISSING,
             compiled.without_none(hints[f.name])[1]) for f in fields(cls)]


def _build_checked(cls: type, obj: Any, rid: str | None) -> Any:
    """The definition of decoding: every field checked against its annotation."""
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{cls.__name__}: an object expected", rid)
    values: dict[str, Any] = {}
    for name, check, required, optional in _plan(cls):
        if name not in obj:
            if optional:
                values[name] = None
            elif required:
                raise ProtocolError(ErrorCode.MISSING_FIELD, f"{cls.TYPE if hasattr(cls, 'TYPE') else cls.__name__}: "
                                    f"field {name!r} is missing", rid)
            continue
        try:
            values[name] = check(obj[name])
        except ValueError as exc:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"field {name!r}: {exc}", rid) from None
        except ProtocolError as exc:
            raise ProtocolError(exc.code, f"field {name!r}: {exc.message}", rid) from None
    return cls(**values)


def _class_of(table: dict[str, type], obj: dict[str, Any]) -> type | None:
    kind = obj.get("type")
    return table.get(kind) if isinstance(kind, str) else None   # a list or object "type" is unhashable


def _id_of(obj: dict[str, Any]) -> str | None:
    """The request id to echo in an error reply, if it is one that can be sent back."""
    rid = obj.get("id")
    if not isinstance(rid, str) or len(rid) > MAX_ID_CHARS:
        return None
    try:
        _check_str(rid)
    except ProtocolError:
        return None
    return rid


def _checked(table: dict[str, type], data: bytes) -> Any:
    """The definition of decoding a frame: loads(), the class its ``type`` names, every field checked."""
    obj = loads(data)
    request = table is REQUEST_TYPES
    rid = _id_of(obj) if request else None
    cls = _class_of(table, obj)
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown {'request' if request else 'message'} type "
                            f"{str(obj.get('type'))[:40]!r}", rid)
    return _build_checked(cls, obj, rid)


# msgspec's decoder of each table's classes (zchat.compiled): the plain frame in C, or None
_FAST: dict[int, Callable[[bytes], Any]] = {id(table): compiled.make_decoder(table.values(), MAX_INT)
                                            for table in (REQUEST_TYPES, REPLY_TYPES, PUBLISHED_TYPES)}
_fast_request = _FAST[id(REQUEST_TYPES)]


def _decode(table: dict[str, type], data: bytes) -> Any:
    """A frame -> a message of ``table``: msgspec's when it takes the frame, else the checked path's."""
    if len(data) <= MAX_FRAME_BYTES:
        msg = _FAST[id(table)](data)
        if msg is not None:
            return msg
    return _checked(table, data)


def decode_request(data: bytes) -> Request:
    """Bytes from a client -> a typed request, or ProtocolError (carrying the request id when one was readable)."""
    req: Request | None = _fast_request(data) if len(data) <= MAX_FRAME_BYTES else None   # _decode(), inline
    if req is None:
        req = _checked(REQUEST_TYPES, data)
    rid = req.id            # a checked string: the id to echo, unless too long
    if len(rid) > MAX_ID_CHARS:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"field 'id': at most {MAX_ID_CHARS} characters", None)
    if type(req) is Send:
        if len(req.cmid) > MAX_ID_CHARS:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"field 'cmid': at most {MAX_ID_CHARS} characters", rid)
        text = req.text     # inline, the hot path; a printable text has no control character (0.1 us, not 0.6)
        if len(text) * 4 > MAX_TEXT_BYTES or (not text.isprintable() and CONTROL_RE.search(text)):
            _check_text(text, "text", MAX_TEXT_BYTES, rid)
        if req.kind is not None and req.kind != "msg" and req.kind != "me":
            raise ProtocolError(ErrorCode.BAD_FIELD, "field 'kind': \"msg\" or \"me\" expected", rid)
    else:
        checks = _TEXT_CHECKS.get(type(req))
        if checks is not None:
            for name, limit, one_line in checks:
                _check_text(getattr(req, name), name, limit, rid, one_line)
    return req


# the free-text fields of requests: (field, most UTF-8 bytes, one line only)
_TEXT_CHECKS: dict[type, tuple[tuple[str, int, bool], ...]] = {
    Edit: (("text", MAX_TEXT_BYTES, False),),
    SetTopic: (("topic", MAX_TOPIC_BYTES, True),),
    SetStatus: (("text", MAX_STATUS_BYTES, True),),
    Search: (("query", MAX_QUERY_BYTES, True),),
    React: (("emoji", MAX_EMOJI_BYTES, True),),
}


def _check_text(text: str, name: str, limit: int, rid: str | None, one_line: bool = False) -> None:
    if len(text) * 4 > limit and len(text.encode()) > limit:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"field {name!r} is over {limit} bytes", rid)
    if CONTROL_RE.search(text) or (one_line and ("\n" in text or "\t" in text)):
        # terminal escape sequences have no place in chat, and JSON would inflate them sixfold
        what = "control characters" if one_line else "control characters other than tab and newline"
        raise ProtocolError(ErrorCode.BAD_FIELD, f"field {name!r}: {what} are not allowed", rid)


def decode_reply(data: bytes) -> Reply:
    """Bytes from the broker's ROUTER -> a typed reply, or ProtocolError."""
    reply: Reply = _decode(REPLY_TYPES, data)
    return reply


def decode_published(data: bytes) -> Published:
    """One message of a published frame (see unbundle) -> a typed message, or ProtocolError."""
    published: Published = _decode(PUBLISHED_TYPES, data)
    return published


# ---------------------------------------------------------------- connect strings

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ENDPOINT = re.compile(r"tcp://[^\s#]+:\d{1,5}|ipc://[^\s#]+")
CONNECT_PREFIX = "connect string: "


def format_connect_string(endpoint: str, server_public_key: bytes) -> str:
    """``ENDPOINT#key=HEX``: the one line a user pastes; hex keeps it shell-safe (z85 is not)."""
    if len(server_public_key) != 32:
        raise ValueError("a CURVE public key is 32 bytes")
    return f"{endpoint}#key={server_public_key.hex()}"


def parse_connect_string(text: str) -> tuple[str, bytes]:
    """-> (endpoint, 32-byte server public key); ValueError with a sentence saying what is wrong."""
    text = text.strip().removeprefix(CONNECT_PREFIX)
    endpoint, sep, key = text.partition("#key=")
    if not sep:
        raise ValueError(f"not a zchat connect string (ENDPOINT#key=HEX expected): {text[:80]!r}")
    if not _ENDPOINT.fullmatch(endpoint):
        raise ValueError(f"bad endpoint {endpoint!r}: tcp://HOST:PORT or ipc://PATH expected")
    if not _HEX64.fullmatch(key):
        raise ValueError("bad server key: 64 hexadecimal digits expected after '#key='")
    return endpoint, bytes.fromhex(key)
