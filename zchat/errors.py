"""Error codes and the exception tree.

    ZchatError
    └── ProtocolError    a frame or request breaks the protocol; .code says how

Pure code. ``ErrorCode`` values are the stable strings sent in ``error`` replies;
docs/PROTOCOL.md documents each one (a test checks that).
"""
from __future__ import annotations

from enum import StrEnum


class ZchatError(Exception):
    """The root of every error zchat raises on purpose."""


class ErrorCode(StrEnum):
    """Stable error codes; the value is what goes on the wire."""

    BAD_FRAMES = "bad_frames"                    # a request must be exactly one frame
    TOO_LARGE = "too_large"                      # frame over MAX_FRAME_BYTES or text over MAX_TEXT_BYTES
    BAD_UTF8 = "bad_utf8"                        # bytes are not UTF-8, or a string holds a lone surrogate
    BAD_JSON = "bad_json"                        # not JSON, or not a JSON object
    UNKNOWN_TYPE = "unknown_type"                # "type" missing or not a known request
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"                      # a field of the wrong type or out of range
    VERSION_UNSUPPORTED = "version_unsupported"
    NAME_INVALID = "name_invalid"
    NAME_TAKEN = "name_taken"                    # the name is bound to another key
    KEY_IN_USE = "key_in_use"                    # this key already owns another name
    LINK_INVALID = "link_invalid"                # a link code that is wrong, used or expired
    BANNED = "banned"                            # the account is banned by the broker's admin, or the user from a group
    NO_SUCH_DEVICE = "no_such_device"
    LAST_DEVICE = "last_device"                  # revoking it would leave the account with no device
    NOT_JOINED = "not_joined"                    # a request before a successful hello
    BAD_ROUTING_ID = "bad_routing_id"            # hello from a DEALER without a random 16-byte routing id
    NO_SUCH_USER = "no_such_user"
    NO_SUCH_CONVERSATION = "no_such_conversation"
    GROUP_EXISTS = "group_exists"
    NOT_MEMBER = "not_member"
    NOT_INVITED = "not_invited"                  # a private group needs an invitation
    NO_SUCH_MESSAGE = "no_such_message"          # no line with that seq that this can be done to
    NOT_ALLOWED = "not_allowed"                  # not your line, or not a group's owner or admin
    LIMIT_REACHED = "limit_reached"              # e.g. in as many groups as the broker allows one user
    RATE_LIMITED = "rate_limited"
    SERVER_FULL = "server_full"
    OVERLOADED = "overloaded"                    # replies were dropped: the connection did not read them
    INTERNAL = "internal"


RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.SERVER_FULL, ErrorCode.OVERLOADED, ErrorCode.INTERNAL})


class ProtocolError(ZchatError):
    """A frame or request that breaks the protocol; ``code`` says how."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None,
                 retry_after_ms: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after_ms = retry_after_ms


