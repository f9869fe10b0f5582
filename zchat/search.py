"""The hub's search request: lines that hold every word of a query, in the conversations the
searcher may read **now**, newest first, a page at a time.

Part of the hub (a mixin of :class:`zchat.hub.Hub`, whose state zchat.hub_parts declares); kept
apart so each module stays small. Which conversations is the hub's decision, made here from the
membership it keeps (everyone, the user's DMs, the groups it is in now): a user who left or was
removed from a group finds nothing of it, as history refuses it (docs/PROTOCOL.md §13.6). The
store (zchat.store_search) only indexes and matches, and is never asked about another
conversation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zchat import paging
from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.hub_parts import HubPart

if TYPE_CHECKING:
    from zchat.presence import Session


class SearchRequests(HubPart):
    def _on_search(self, s: Session, req: p.Search) -> p.SearchPage:
        self._limit(s, p.RateKind.SEARCH, req.id, "searches")
        limit = min(req.limit or self.config.history_page_max, self.config.history_page_max)
        readable = [p.EVERYONE, *sorted(self.user_convs.get(s.user, ()))]
        heads = {key: conv.head for key, conv in self.convs.items() if conv.stored}
        try:
            found, more, partial = self.store.search(readable, req.query, req.before, limit, heads)
        except ValueError as exc:        # the store refused the query: the user's words, not a bug
            raise ProtocolError(ErrorCode.BAD_FIELD, f"field 'query': {exc}", req.id) from None
        results = []
        for _, row in found:              # each line as it reads now (quote, reactions), in its conversation
            results += self._render(row.conv, [row])
        fitting = paging.fit(results, keep_first=True)
        more = more or len(fitting) < len(results)      # a page cut to fit one frame goes on where it was cut
        cursor = found[len(fitting) - 1][0] if more and fitting else None
        return p.SearchPage(req.id, req.query, fitting, cursor, True if partial else None)
