"""Paged lists: ``{items, next_cursor}``, with ``limit`` and ``cursor`` in the query."""
from collections.abc import Callable
from operator import attrgetter

import marshmallow as ma
from marshmallow import fields, validate

from ..errors import Invalid
from ..schemas import Integer, Strict


class PageArgs(Strict):
    limit = Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None, validate=validate.Length(max=100))


def page_of(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The schema of a page of ``item``s (``name`` is its name in the OpenAPI document)."""
    return type(name, (Strict,), {"items": fields.List(fields.Nested(item)),
                                  "next_cursor": fields.String(allow_none=True)})


def cursor_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise Invalid([{"path": "query.cursor", "message": "not a cursor this API gave out"}])
    return int(cursor)


def paged(args: dict, fetch: Callable[..., list], key: Callable = attrgetter("id")) -> dict:
    """One page: ``fetch(limit=..., before=...)`` asked for one item more than the page, to know if more follow.

    ``args`` are the parsed ``PageArgs`` (their ``limit`` and ``cursor``); the
    cursor is the ``key`` of the page's last item, and the next page holds the
    items before it.
    """
    limit = args["limit"]
    items = fetch(limit=limit + 1, before=cursor_id(args["cursor"]))
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": str(key(items[-1])) if more and items else None}
