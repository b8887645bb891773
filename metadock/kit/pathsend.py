"""Files sent by the HTTP server itself (the ASGI ``http.response.pathsend`` extension): no byte passes through Python.

Granian offers the extension; Litestar has no response for it, so this is one. Handlers use it only when the server
advertises the extension in ``scope["extensions"]`` and fall back to streaming otherwise (e.g. in the test client).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Send

PATHSEND = "http.response.pathsend"


def server_sends_files(request: Request[Any, Any, Any]) -> bool:
    return PATHSEND in (request.scope.get("extensions") or {})


class _ASGIPathSendResponse(ASGIResponse):
    __slots__ = ("path",)

    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path

    async def send_body(self, send: Send, receive: Receive) -> None:  # noqa: ARG002 - the ASGI signature
        message: Any = {"type": PATHSEND, "path": str(self.path)}  # not among Litestar's typed ASGI events
        await send(message)


class PathSendResponse(Response[None]):
    """The whole file at ``path``; headers (Content-Type, Content-Length...) exactly as given."""

    def __init__(self, path: Path, *, size: int, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(None, media_type=media_type, headers=headers)
        self.path = path
        self.size = size

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> ASGIResponse:  # noqa: ARG002
        return _ASGIPathSendResponse(
            self.path,
            background=self.background or kwargs.get("background"),
            content_length=self.size,
            headers={**(kwargs.get("headers") or {}), **self.headers},
            media_type=str(self.media_type),
            status_code=self.status_code or 200,
        )
