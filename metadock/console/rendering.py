"""Rendering console pages: one autoescaping Jinja environment, a strict Content-Security-Policy, HTML errors."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.response import Redirect
from markupsafe import Markup, escape

from metadock.console.once import ONCE_FIELD, new_token
from metadock.console.session import (
    CSRF_FIELD,
    NotLoggedIn,
    form_token,
    login_redirect_target,
    response_cookies,
)
from metadock.kit.errors import as_app_error
from metadock.kit.principal import Principal, Role

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"

# No inline script or style anywhere: the pages' own CSS and JS are static files, so an injected <script> or style
# attribute would not run even if escaping ever failed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def human_bytes(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def utc_time(moment: dt.datetime | str | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):  # the APIs' own formats (Laravel's ...Z, ISO 8601 with an offset)
        try:
            parsed = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return moment
        return utc_time(parsed)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _parse_time(moment: dt.datetime | str | None) -> dt.datetime | None:
    if isinstance(moment, str):  # the APIs' own formats (Laravel's ...Z, ISO 8601 with an offset)
        try:
            moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def when(moment: dt.datetime | str | None) -> Markup:
    """A time to the millisecond, in UTC; console.js shows it in the browser's time zone and keeps UTC on hover (a
    page without script still reads right)."""
    parsed = _parse_time(moment)
    if parsed is None:
        return escape(str(moment or "—"))
    utc = parsed.astimezone(dt.UTC)
    text = f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d} UTC"
    iso = f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    return Markup(f'<time datetime="{iso}" title="{text}">{text}</time>')  # noqa: S704 - only digits and fixed text


def duration(seconds: float) -> str:
    """A run's length as an operator reads it: 0 ms, 850 ms, 2.35 s, 4 min 10 s, 3 h 5 min."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["bytes"] = human_bytes
    environment.filters["utc"] = utc_time
    environment.filters["when"] = when
    environment.filters["duration"] = duration
    environment.globals["CSRF_FIELD"] = CSRF_FIELD
    environment.globals["ONCE_FIELD"] = ONCE_FIELD
    environment.globals["once_token"] = new_token  # a fresh single-use token for each create form rendered
    return environment


templates = _environment()


def _page_context(request: Request[Any, Any, Any]) -> dict[str, Any]:
    principal: Principal | None = request.scope.get("user")
    return {
        "request_path": request.url.path,
        "principal": principal,
        "can_write": principal is not None and principal.role.allows(Role.WRITER),
        "is_admin": principal is not None and principal.role.allows(Role.ADMIN),
        "csrf_token": form_token(request),
    }


def _page(request: Request[Any, Any, Any], html: str, status: int, cookies: list[Cookie] | None) -> Response[str]:
    return Response(
        html,
        status_code=status,
        media_type=MediaType.HTML,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"},
        cookies=[*response_cookies(request), *(cookies or [])],
    )


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Response[str]:
    html = templates.get_template(template).render(**_page_context(request), **context)
    return _page(request, html, status, cookies)


async def render_in_thread(
    request: Request[Any, Any, Any], template: str, *, status: int = 200, **context: Any
) -> Response[str]:
    """For a page of thousands of rows (a compare): rendering takes long enough to stall the event loop."""
    page_context = _page_context(request)  # reads the request: here, on the loop
    html = await asyncio.to_thread(templates.get_template(template).render, **page_context, **context)
    return _page(request, html, status, None)


def see_other(url: str, cookies: list[Cookie] | None = None) -> Redirect:
    """After a form: the browser follows with a GET, so reloading the page never repeats the POST."""
    return Redirect(url, status_code=303, cookies=cookies)


def handle_console_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, NotLoggedIn):
        return Redirect(login_redirect_target(request), status_code=303)
    error = as_app_error(exc)
    response = render(request, "error.html", status=error.status, error=error)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response
