"""Paged lists: ``{items, next_cursor}``, with ``limit`` and ``cursor`` in the query."""
from collections.abc import Callable
from operator import attrgetter

import marshmallow as ma
from marshmallow import fields, validate

from ..errors import Invalid
from ..schemas import Integer, Strict


NOT_A_CURSOR = "not a cursor this API gave out"
LARGEST_ID = 2**31 - 1  # of an Integer id column
LARGEST_BIG_ID = 2**63 - 1  # of a BigInteger one (ledger entries, audit rows, redemptions)


class PageArgs(Strict):
    limit = Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]{1,19}$", error=NOT_A_CURSOR),
                           metadata={"description": "The `next_cursor` of the previous page"})


def page_of(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The schema of a page of ``item``s (``name`` is its name in the OpenAPI document)."""
    return type(name, (Strict,), {"items": fields.List(fields.Nested(item)),
                                  "next_cursor": fields.String(allow_none=True)})


def cursor_id(cursor: str | None, largest: int) -> int | None:
    """The id a cursor names; one beyond every id the column can hold is its largest (the newest page)."""
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise Invalid([{"path": "query.cursor", "message": NOT_A_CURSOR}])
    return min(int(cursor), largest)


def paged(args: dict, fetch: Callable[..., list], key: Callable = attrgetter("id"),
          largest: int = LARGEST_ID) -> dict:
    """One page: ``fetch(limit=..., before=...)`` asked for one item more than the page, to know if more follow.

    ``args`` are the parsed ``PageArgs`` (their ``limit`` and ``cursor``); the
    cursor is the ``key`` of the page's last item, and the next page holds the
    items before it. ``largest`` is the largest id the listed column holds.
    """
    limit = args["limit"]
    items = fetch(limit=limit + 1, before=cursor_id(args["cursor"], largest))
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": str(key(items[-1])) if more and items else None}
