"""Single-use create forms: re-sending a form that created something (reload, back and submit again) creates
nothing the second time.

Each create form carries a random token. When the form has created something, the response remembers the token in
an HttpOnly cookie of the browser's recently used tokens; a POST whose token is in that list is answered with a
redirect to the list page and a note, and its handler creates nothing. Only this browser can send the form (its CSRF
token binds it to this session), so this browser's memory of what it already sent is the right scope, with no table
to write. (console.js also disables a form's button once it is submitted, against a double click.)
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from metadock.console.session import COOKIE_PATH, secure_cookies
from metadock.kit.errors import bad_request

ONCE_FIELD = "once"
USED_COOKIE = "metadock_console_used"
KEEP = 20  # tokens remembered: more create forms than anyone re-sends
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_token() -> str:
    return secrets.token_urlsafe(16)


def _used(request: Request[Any, Any, Any]) -> list[str]:
    return [token for token in request.cookies.get(USED_COOKIE, "").split(".") if _TOKEN.match(token)]


def form_once(form: Any) -> str:
    """The form's single-use token; a form without one is from an old page (or not from this console)."""
    token = str(form.get(ONCE_FIELD, ""))
    if not _TOKEN.match(token):
        raise bad_request("This form is out of date. Reload the page and try again.")
    return token


def already_sent(request: Request[Any, Any, Any], token: str) -> bool:
    return token in _used(request)


def mark_sent(request: Request[Any, Any, Any], token: str) -> Cookie:
    tokens = [*_used(request), token][-KEEP:]
    return Cookie(
        key=USED_COOKIE,
        value=".".join(tokens),
        path=COOKIE_PATH,
        max_age=24 * 3600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
