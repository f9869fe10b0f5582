"""How the full-screen terminal client draws: buffer lines as wrapped, coloured screen rows, and
the title and status bars. Produces prompt_toolkit formatted text (lists of (style, text)).

Lines are laid out as WeeChat does: ``HH:MM  name │ text``, names right-aligned in a column,
wrapped text indented under the text column, each name in its own colour (the same in every
run), your own name in bold, a line that names you marked in yellow, joins and presence dimmed.
"""
from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.formatted_text import StyleAndTextTuples, fragment_list_width
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from zchat import events as ev
from zchat.frontends.cli_buffers import Buffer, Hot, Line, LineKind, hot_entry
from zchat.frontends.cli_model import ChatModel, Link
from zchat.frontends.text import (
    clean,
    clock,
    nick_colour,
    reactions_text,
    seen_text,
    seq_tag,
    state_text,
    typing_text,
)

# no red (errors) and no yellow (lines that name you) among the names' colours
PALETTE = ("ansicyan", "ansimagenta", "ansigreen", "ansiblue", "ansibrightcyan", "ansibrightmagenta",
           "ansibrightgreen", "ansibrightblue", "#d7875f", "#af87d7", "#5fafaf", "#87af5f")
NAME_MIN, NAME_MAX = 4, 12      # the name column's width grows with the names, within these
TIME_WIDTH = len("HH:MM ")
MARK = {LineKind.MEMBERSHIP: "--", LineKind.INFO: "--", LineKind.ERROR: "!"}

STYLE = Style.from_dict({
    "time": "ansibrightblack",
    "sep": "ansibrightblack",
    "own": "bold",
    "hl.nick": "bg:ansiyellow ansiblack bold",
    "hl.text": "ansiyellow bold",
    "dim": "ansibrightblack",
    "seq": "ansibrightblack",
    "found": "reverse",
    "action": "italic",
    "deleted": "ansibrightblack italic",
    "reactions": "",
    "bar.typing": "italic",
    "info": "ansibrightblack",
    "error": "ansired bold",
    "marker": "ansiyellow",
    "bar": "bg:ansiblue ansiwhite",
    "bar.buffer": "bold",
    "bar.hot": "bold",
    "bar.highlight": "ansibrightyellow bold",
    "bar.more": "ansibrightyellow bold",
    "bar.down": "ansibrightred bold",
    "prompt": "bold",
})


def name_width(buf: Buffer) -> int:
    return min(NAME_MAX, max(NAME_MIN, buf.widest))


def fit(name: str, width: int) -> str:
    """``name`` right-aligned in ``width`` columns, cut with a "+" if longer (as WeeChat does)."""
    return name.rjust(width) if len(name) <= width else name[:width - 1] + "+"


def wrap(text: str, first: int, rest: int) -> list[str]:
    """``text`` in rows of at most ``first`` columns, then ``rest`` columns: at a space when one is
    in the second half of the row, else mid-word; wide characters count double."""
    rows: list[str] = []
    for para in text.split("\n"):
        while True:
            width = max(1, first if not rows else rest)
            if get_cwidth(para) <= width:
                rows.append(para)
                break
            cut, used = 0, 0
            while cut < len(para) and used + get_cwidth(para[cut]) <= width:
                used += get_cwidth(para[cut])
                cut += 1
            cut = max(cut, 1)
            space = para.rfind(" ", 0, cut + 1)
            if space > cut // 2:
                rows.append(para[:space])
                para = para[space + 1:]
            else:
                rows.append(para[:cut])
                para = para[cut:]
    return rows


def line_rows(line: Line, width: int, names: int, me: str | None, seq_width: int = 0,
              seen: tuple[str, ...] = ()) -> list[StyleAndTextTuples]:
    """One buffer line as screen rows of ``width`` columns: the time, the line's number in a column
    ``seq_width`` wide (what /reply and /react take), the name column ``names`` wide, then the text
    (a reply's quote above it, "(edited)" after it, its reactions and ``seen`` under it)."""
    if line.kind == LineKind.MARKER:
        words = f" {line.text} "
        side = max(0, width - get_cwidth(words)) // 2
        return [[("class:marker", "─" * side + words + "─" * side)]]
    left = TIME_WIDTH + seq_width
    indent = left + names + 3
    text_width = width - indent
    if text_width < 10:                            # too narrow for the column: wrap under the name
        indent, text_width = 2, width - 2
    head, head_style, paras = _head_and_text(line)
    if seen:
        paras.append(("class:dim", seen_text(seen)))
    rows = [(style, row) for k, (style, text) in enumerate(paras)
            for row in wrap(text, width - left - names - 3 if k == 0 else text_width, text_width)]
    tag = seq_tag(line.seq) if line.seq and seq_width else ""
    pad = " " * max(0, seq_width - 1 - len(tag))            # the seqs right-aligned in their column
    sep = ("class:hl.text", " » ") if line.notified else ("class:sep", " │ ")
    name = (" " if seq_width else "") + fit(head, names)
    first: StyleAndTextTuples = [("class:time", clock(line.ts) + " " + pad),
                                 ("class:found" if line.found else "class:seq", tag),
                                 (head_style, name), sep, *_fragments(*rows[0])]
    gap = " " * (indent - 2) if indent > 2 else ""
    more: list[StyleAndTextTuples] = [[("", gap), ("class:sep", "│ " if indent > 2 else "  "), *_fragments(*row)]
                                      for row in rows[1:]]
    return [first, *more]


EDITED = " (edited)"


def _fragments(style: str, row: str) -> StyleAndTextTuples:
    """A text row's fragments: "(edited)" at its end dimmed."""
    if style != "class:dim" and row.endswith(EDITED):
        return [(style, row[:-len(EDITED)]), ("class:dim", EDITED)]
    return [(style, row)]


def _head_and_text(line: Line) -> tuple[str, str, list[tuple[str, str]]]:
    """What goes in the name column, its style, and the text as (style, paragraph) pairs."""
    if line.kind in (LineKind.MSG, LineKind.ACTION):
        colour = f"{nick_colour(line.sender, PALETTE)} bold"
        head_style = "class:hl.nick" if line.mention else "class:own" if line.own else colour
        text_style = "class:hl.text" if line.mention else ""
        if line.kind == LineKind.ACTION:
            head, head_style, body = "*", colour, f"{line.sender} {line.text}"
            text_style = text_style or "class:action"
        else:
            head, body = line.sender, line.text
        if line.deleted:
            return head, head_style, [("class:deleted", "message deleted")]
        paras = [("class:dim", line.quote)] if line.quote else []
        paras.append((text_style, body + (EDITED if line.edited else "")))
        if line.reactions:
            paras.append(("class:reactions", reactions_text(line.reactions)))
        return head, head_style, paras
    if line.kind == LineKind.MEMBERSHIP:
        return "--", "class:dim", [("class:dim", f"{line.sender} {line.text}")]
    if line.kind == LineKind.PRESENCE:
        return line.arrow, "class:dim", [("class:dim", line.text)]
    style = "class:hl.text" if line.mention else f"class:{line.kind}"
    return MARK[line.kind], style, [(style, line.text)]


def seq_width(buf: Buffer) -> int:
    """The seq column's width: the longest "#N" of the buffer and a space, 0 while it has no messages."""
    return len(seq_tag(max(buf.seqs))) + 1 if buf.seqs else 0


def drawer(model: ChatModel, buf: Buffer, width: int) -> Callable[[Line], list[StyleAndTextTuples]]:
    """``line -> its screen rows`` for ``buf`` at ``width`` ([] if hidden): one column layout for all its lines."""
    names, seqs = name_width(buf), seq_width(buf)

    def rows(line: Line) -> list[StyleAndTextTuples]:
        if not model.shows(line):
            return []
        seen = buf.seen_names if line.seq and line.seq == buf.seen_seq else ()
        return line_rows(line, width, names, model.name, seqs, seen)
    return rows


def visible_rows(model: ChatModel, buf: Buffer, width: int, height: int) -> list[StyleAndTextTuples]:
    """The rows to show: the buffer's lines up to its scroll position, the last ``height`` rows of them."""
    draw = drawer(model, buf, width)
    end = len(buf.lines) if buf.anchor is None else buf.anchor + 1
    chunks: list[list[StyleAndTextTuples]] = []
    count, i = 0, end
    while count < height and i > 0:
        i -= 1
        rows = draw(buf.lines[i])
        chunks.append(rows)
        count += len(rows)
    out = [row for rows in reversed(chunks) for row in rows]
    return out[-height:]


def rows_of(model: ChatModel, buf: Buffer, width: int) -> Callable[[Line], int]:
    """``line -> rows it takes`` at ``width`` (0 if hidden), for scrolling."""
    draw = drawer(model, buf, width)
    return lambda line: len(draw(line))


# ---------------------------------------------------------------- the bars
def buffer_name(buf: Buffer) -> str:
    names: dict[str, str] = {ev.ConvKind.EVERYONE: "everyone in the chat",
                             ev.ConvKind.DM: f"direct messages with {buf.title}"}
    return names.get(buf.kind, f"{'private ' if buf.private else ''}group {buf.title}")


HINTS = "Alt+1-9 Alt+←/→: switch  PgUp/PgDn: scroll  /help "


def title_bar(model: ChatModel, width: int) -> StyleAndTextTuples:
    """`` 2:#dev  group dev: the topic`` and, when there is room, the keys to know on the right."""
    buf = model.buffers.shown
    left: StyleAndTextTuples = [("class:bar.buffer", f" {model.buffers.number(buf.conv)}:{buf.label}"),
                                ("", f"  {buffer_name(buf)}" + (f": {clean(buf.topic, 0)}" if buf.topic else ""))]
    room = width - fragment_list_width(left) - get_cwidth(HINTS)
    return left + [("", " " * room + HINTS)] if room >= 2 else left


def status_bar(model: ChatModel, leaving: bool = False) -> StyleAndTextTuples:
    """``[alice (away: lunch)] 2:#design [live] [3:@bob(1 @1) 4:#ops(2)] -MORE(4)- bob is typing…``"""
    buffers, view = model.buffers, model.view
    buf = buffers.shown
    state = "leaving" if leaving else view.state
    down = model.link in (Link.DOWN, Link.FAILED)
    me = view.name or "not joined"
    if model.status[0] != "online":
        me += f" ({state_text(*model.status)})"
    out: StyleAndTextTuples = [("", f" [{me}] "),
                               ("class:bar.buffer", f"{buffers.number(buf.conv)}:{buf.label}"), ("", " "),
                               ("class:bar.down" if down else "", f"[{state}]")]
    hot = buffers.hotlist()
    if hot:
        out.append(("", " ["))
        for k, h in enumerate(hot):
            out += [("", " " if k else ""), (_hot_style(h), hot_entry(h))]
        out.append(("", "]"))
    if model.hide_joins:
        out.append(("", " [joins hidden]"))
    more = buf.below(model.shows)
    if buf.anchor is not None:
        out.append(("class:bar.more", f" -MORE({more})-"))
    if buf.typing:
        out.append(("class:bar.typing", f" {typing_text(list(buf.typing))}"))
    return out


def _hot_style(h: Hot) -> str:
    return "class:bar.highlight" if h.highlight else "class:bar.hot"
