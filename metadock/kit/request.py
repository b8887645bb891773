"""The request class: JSON bodies that cannot be decoded are the client's mistake (400), whatever the reason."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.exceptions import SerializationException


class JsonSafeRequest(Request[Any, Any, Any]):
    """Litestar turns msgspec's ``DecodeError`` into a 400, but msgspec raises two other errors for hostile bodies:
    ``RecursionError`` for JSON nested past the interpreter's depth (``[[[[…`` ten thousand deep) and
    ``UnicodeDecodeError`` for bytes that are not UTF-8. Both escaped as 500s; here they join the malformed-JSON path.
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise SerializationException("JSON is malformed: it is nested too deeply.") from None
        except UnicodeDecodeError:
            raise SerializationException("JSON is malformed: the body is not valid UTF-8.") from None


def query_pairs(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    """The query's pairs in the order sent, decoded as Litestar decodes them. ``request.query_params`` regroups the
    pairs by name in an order that varies between runs, which loses the order of ``order[...]`` and ``sort``, and
    reorders the page links and error messages built from them."""
    query_string: bytes = request.scope.get("query_string", b"")
    return parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, separator="&")
