"""docs/PROTOCOL.md stays in step with zchat.protocol.

Conventions the document follows (and these tests rely on):

* every message type has a section headed ``### Request `x` ``, ``### Reply `x` `` or
  ``### Published `x` ``; the section runs to the next heading of level 1-3;
* every field of the message class, and of any dataclass nested in it (Limits,
  ConversationInfo, GroupInfo, UserInfo, Message, PresenceChange), is named in backticks
  in that section;
* a JSON example checked against the decoders is a fenced ```json block on the line right
  after ``<!-- request -->``, ``<!-- reply -->`` or ``<!-- published -->``; an example
  inside a message's section must decode to that message's class;
* the worked sessions are fenced blocks right after ``<!-- transcript -->``: lines
  ``NAME ->  {json}`` (a request), ``NAME <-  {json}`` (a reply) and
  ``NAME <- SUB TOPIC  {json}`` (a published message on TOPIC);
* the summary table of §5.1 has a row ``| `request` | reply | error codes |`` for every request.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from zchat import protocol as p
from zchat.errors import RETRYABLE, ErrorCode

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"
KINDS = {
    "request": (p.REQUEST_TYPES, p.decode_request),
    "reply": (p.REPLY_TYPES, p.decode_reply),
    "published": (p.PUBLISHED_TYPES, p.decode_published),
}
HEADING = re.compile(r"^### (Request|Reply|Published) `([a-z_]+)`\s*$", re.MULTILINE)
ANY_HEADING = re.compile(r"^#{1,3} ", re.MULTILINE)
TAGGED = re.compile(r"^<!-- (request|reply|published) -->\n```json\n(.*?)^```", re.MULTILINE | re.DOTALL)
TRANSCRIPT = re.compile(r"^<!-- transcript -->\n```\w*\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINE = re.compile(r"^(\w+) (->|<-)(?: SUB (\S+))?\s+(\{.*\})\s*$")


@pytest.fixture(scope="module")
def doc() -> str:
    assert DOC_PATH.exists(), f"{DOC_PATH} is missing"
    return DOC_PATH.read_text(encoding="utf-8")


def all_types() -> list[tuple[str, str, type]]:
    return [(kind, t, cls) for kind, (table, _) in KINDS.items() for t, cls in table.items()]


def sections(doc: str) -> dict[tuple[str, str], str]:
    """(kind, type) -> the text from that heading to the next heading of level 1-3."""
    out: dict[tuple[str, str], str] = {}
    for m in HEADING.finditer(doc):
        key = (m.group(1).lower(), m.group(2))
        assert key not in out, f"two sections for {key}"
        nxt = ANY_HEADING.search(doc, m.end())
        out[key] = doc[m.end():nxt.start() if nxt else len(doc)]
    return out


def field_names(cls: type) -> set[str]:
    """The wire field names of ``cls`` and of every dataclass nested in its annotations."""
    names: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        names.add(f.name)
        stack = [hints[f.name]]
        while stack:
            h = stack.pop()
            if dataclasses.is_dataclass(h):
                names |= field_names(h)  # type: ignore[arg-type]
            stack.extend(typing.get_args(h))
    return names


def tagged_examples(doc: str) -> list[tuple[int, str, str]]:
    """(offset, kind, json text) of every tagged ```json block."""
    return [(m.start(), m.group(1), m.group(2)) for m in TAGGED.finditer(doc)]


# ---------------------------------------------------------------- names in backticks

@pytest.mark.parametrize("kind,type_", [(k, t) for k, t, _ in all_types()])
def test_every_message_type_is_named(doc: str, kind: str, type_: str) -> None:
    assert f"`{type_}`" in doc


@pytest.mark.parametrize("code", [c.value for c in ErrorCode])
def test_every_error_code_is_documented_with_its_retryability(doc: str, code: str) -> None:
    row = re.search(rf"^\| `{re.escape(code)}` \| ([^|]*) \|", doc, re.MULTILINE)
    assert row, f"error code `{code}` has no row in the error table"
    retryable = "yes" in row.group(1)
    assert retryable == (ErrorCode(code) in RETRYABLE), f"`{code}`: the table's retryable column is wrong"


# ---------------------------------------------------------------- sections and fields

@pytest.mark.parametrize("kind,type_,cls", all_types(), ids=lambda v: getattr(v, "__name__", v))
def test_every_message_has_a_section_naming_its_fields(doc: str, kind: str, type_: str, cls: type) -> None:
    secs = sections(doc)
    assert (kind, type_) in secs, f"no heading '### {kind.capitalize()} `{type_}`'"
    body = secs[(kind, type_)]
    missing = sorted(f for f in field_names(cls) if f"`{f}`" not in body)
    assert not missing, f"section {kind} `{type_}` does not name the fields {missing}"


def test_no_section_for_a_type_that_does_not_exist(doc: str) -> None:
    known = {(k, t) for k, t, _ in all_types()}
    assert set(sections(doc)) <= known, set(sections(doc)) - known


# ---------------------------------------------------------------- examples

def test_tagged_examples_decode(doc: str) -> None:
    examples = tagged_examples(doc)
    assert examples, "no tagged JSON examples"
    for _, kind, text in examples:
        decode = KINDS[kind][1]
        try:
            decode(text.encode())
        except p.ProtocolError as exc:
            pytest.fail(f"{kind} example does not decode ({exc}):\n{text}")


@pytest.mark.parametrize("kind,type_,cls", all_types(), ids=lambda v: getattr(v, "__name__", v))
def test_every_message_has_an_example_in_its_section(doc: str, kind: str, type_: str, cls: type) -> None:
    heading = next((m for m in HEADING.finditer(doc) if (m.group(1).lower(), m.group(2)) == (kind, type_)), None)
    assert heading, f"no section for {kind} `{type_}`"
    nxt = ANY_HEADING.search(doc, heading.end())
    end = nxt.start() if nxt else len(doc)
    mine = [(k, text) for off, k, text in tagged_examples(doc) if heading.end() <= off < end]
    assert mine, f"section {kind} `{type_}` has no tagged example"
    for k, text in mine:
        assert k == kind, f"section {kind} `{type_}` holds a {k} example"
        decoded = KINDS[k][1](text.encode())
        assert type(decoded) is cls, f"example in section {kind} `{type_}` decodes to {type(decoded).__name__}"


def transcript_types(block: str) -> set[str]:
    """Decode every line of one worked session with the decoder for its direction -> the types seen."""
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert lines
    seen: set[str] = set()
    for ln in lines:
        parsed = LINE.match(ln)
        assert parsed, f"transcript line not in the form 'NAME ->|<- [SUB TOPIC] JSON': {ln!r}"
        _, arrow, topic, payload = parsed.groups()
        assert topic is None or arrow == "<-", ln
        assert topic is None or topic.endswith("|"), f"topic {topic!r} does not end in '|'"
        decode = p.decode_request if arrow == "->" else p.decode_reply if topic is None else p.decode_published
        try:
            msg = decode(payload.encode())
        except p.ProtocolError as exc:
            pytest.fail(f"transcript line does not decode ({exc}): {ln}")
        seen.add(msg.TYPE)
    return seen


def test_transcript_frames_decode(doc: str) -> None:
    blocks = [m.group(1) for m in TRANSCRIPT.finditer(doc)]
    assert len(blocks) == 2, "the worked session (§11) and the chat features' (§13.8)"
    assert {"hello", "welcome", "send", "ok", "msg"} <= transcript_types(blocks[0])
    # protocol 3's worked session shows its requests and what they publish, live
    assert {"edit", "react", "typing", "mark_read", "seen", "set_topic", "status", "presence", "search",
            "moderate", "membership", "key"} <= transcript_types(blocks[1])


SUMMARY_ROW = re.compile(r"^\| `([a-z_]+)` \| [^|]* \| ([^|]*) \|$", re.MULTILINE)


def test_every_request_has_a_summary_row_naming_only_real_error_codes(doc: str) -> None:
    start = doc.index("### 5.1 Summary")
    table = doc[start:doc.index("### 5.2", start)]
    rows = {m.group(1): re.findall(r"`([a-z_]+)`", m.group(2)) for m in SUMMARY_ROW.finditer(table)}
    assert set(rows) == set(p.REQUEST_TYPES), set(rows) ^ set(p.REQUEST_TYPES)
    codes = {c.value for c in ErrorCode}
    for request, named in rows.items():
        assert named and set(named) <= codes, f"{request}: {set(named) - codes} are not error codes"


# ---------------------------------------------------------------- the sealed fan-out's worked example

SEALED = re.compile(r"^<!-- sealed -->\n```\w*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_sealing_example_is_what_the_broker_makes(doc: str) -> None:
    """An implementer checks their AEAD call against §6.3: every byte of it is zchat.seal's."""
    from zchat import seal
    m = SEALED.search(doc)
    assert m, "no <!-- sealed --> block"
    fields = dict(line.split(":", 1) for line in m.group(1).splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    topic, epoch = fields["topic"].encode(), int(fields["epoch"])
    key, nonce, payload = bytes.fromhex(fields["key"]), bytes.fromhex(fields["nonce"]), fields["payload"].encode()
    frame = seal.seal(topic, epoch, key, payload, nonce)
    assert frame.hex() == fields["frame"]
    assert (topic + frame[:5]).hex() == fields["ad"]
    assert seal.open_frame(topic, frame, key) == payload
    assert isinstance(p.decode_published(payload), p.Message)
    ring = seal.KeyChain()
    ring.add(seal.scope_of(topic), epoch, key)
    assert ring.open(topic, frame) == payload


def test_keys_in_the_examples_are_64_hex_digits(doc: str) -> None:
    keys = [k for _, _, text in tagged_examples(doc) for k in re.findall(r'"key":\s*"([^"]*)"', text)]
    assert keys and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys), keys
