"""The console's session and CSRF protection.

The session is a login JWT (the same tokens, claims, revocation and user checks as ``Authorization: Bearer``) kept in
an HttpOnly, SameSite=Lax cookie scoped to ``/console``. The APIs never read this cookie: their authentication takes
only the ``Authorization`` header, so a cross-site request cannot ride on a console login there.

CSRF: every form carries a token, HMAC(server key, browser seed | session id). The seed is a random HttpOnly cookie
of its own; binding the token to the session's ``jti`` means a token obtained under one login is worthless under
another (and a planted seed cookie gains an attacker nothing without the server's key). A POST whose token does not
match is refused with 403 before its handler runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler

from metadock.kit.context import runtime_of
from metadock.kit.errors import forbidden
from metadock.kit.principal import Principal, Role
from metadock.kit.unit_of_work import UnitOfWork, continues_authentication
from metadock.users.service import JwtResolver

COOKIE_PATH = "/console"
SESSION_COOKIE = "metadock_console"
SEED_COOKIE = "metadock_console_csrf"
CSRF_FIELD = "csrf_token"

CONSOLE_PUBLIC = "console_public"  # route opt: no session needed (the login page)
CONSOLE_ROLE = "console_role"  # route opt: the least role; default reader for GET, writer for POST

_SEED_STATE = "console_csrf_seed"
_NEW_SEED_STATE = "console_csrf_seed_is_new"
_SESSION_STATE = "console_session_token"


class NotLoggedIn(Exception):
    """No valid session: pages redirect to the login form."""


def _session_id(principal: Principal | None) -> str:
    return (principal.token_id or "") if principal is not None else ""


def csrf_token(signing_key: str, seed: str, principal: Principal | None) -> str:
    message = f"console-csrf|{seed}|{_session_id(principal)}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def _seed(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The browser's CSRF seed; a new one (set on the response by the renderer) when it has none."""
    state = connection.state
    if _SEED_STATE not in state:
        existing = connection.cookies.get(SEED_COOKIE, "")
        if len(existing) == 43 and existing.replace("-", "").replace("_", "").isalnum():
            state[_SEED_STATE] = existing
        else:
            state[_SEED_STATE] = secrets.token_urlsafe(32)
            state[_NEW_SEED_STATE] = True
    seed: str = state[_SEED_STATE]
    return seed


def form_token(request: Request[Any, Any, Any]) -> str:
    """The CSRF token the page's forms must carry."""
    principal = request.scope.get("user")
    return csrf_token(runtime_of(request).signing_key, _seed(request), principal)


def secure_cookies(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.url.scheme == "https" or runtime_of(connection).settings.env == "production"


def _cookie(connection: ASGIConnection[Any, Any, Any, Any], key: str, value: str, max_age: int | None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        path=COOKIE_PATH,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(connection),
    )


def response_cookies(request: Request[Any, Any, Any]) -> list[Cookie]:
    """Cookies every console response sets: the CSRF seed, when this request created it."""
    if request.state.get(_NEW_SEED_STATE):
        return [_cookie(request, SEED_COOKIE, _seed(request), None)]
    return []


def session_cookie(request: Request[Any, Any, Any], token: str, ttl_seconds: int) -> Cookie:
    return _cookie(request, SESSION_COOKIE, token, ttl_seconds)


def cleared_session_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return _cookie(request, SESSION_COOKIE, "", 0)


async def _resolve_session(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    runtime = runtime_of(connection)
    resolver = next((r for r in runtime.resolvers if isinstance(r, JwtResolver)), None)
    if resolver is None or not resolver.recognizes(token):
        return None
    # The page's first read, in the request's unit of work, which its handler goes on with (see console_guard).
    unit = UnitOfWork.of(connection.scope, runtime.database)
    return await resolver.resolve(token, await unit.connection())


def login_redirect_target(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    path = connection.url.path
    query = connection.url.query
    target = f"{path}?{query}" if query else path
    return f"{COOKIE_PATH}/login?next={quote(target, safe='/')}"


def safe_next(raw: str | None) -> str:
    """Where to go after login: only a console path of ours, never another site (``//evil``, ``/\\evil``)."""
    if raw and raw.startswith(COOKIE_PATH) and not raw.startswith("//") and "\\" not in raw and "\n" not in raw:
        return raw
    return COOKIE_PATH


async def console_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Session, CSRF and role for every console route. Async: a sync guard would cost a thread hop."""
    method = connection.scope["method"]  # type: ignore[typeddict-item]
    principal = await _resolve_session(connection)
    if principal is not None:
        connection.scope["user"] = principal  # read by the handlers' dependencies and the access log
    if not continues_authentication(handler, method):
        # No connection held while a form arrives, and the handler's writes begin from a fresh snapshot.
        await UnitOfWork.of(connection.scope, runtime_of(connection).database).commit()
    if method == "POST":
        form = await Request[Any, Any, Any](connection.scope, connection.receive).form()
        expected = csrf_token(runtime_of(connection).signing_key, _seed(connection), principal)
        if not hmac.compare_digest(str(form.get(CSRF_FIELD, "")), expected):
            raise forbidden("The form has expired or did not come from this console. Reload the page and try again.")
    if handler.opt.get(CONSOLE_PUBLIC):
        return
    if principal is None:
        raise NotLoggedIn
    declared = handler.opt.get(CONSOLE_ROLE)
    required = Role(declared) if declared else (Role.READER if method in ("GET", "HEAD") else Role.WRITER)
    if not principal.role.allows(required):
        raise forbidden("Your role does not allow this.")


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.scope["user"]
    return principal
