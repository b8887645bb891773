"""Logging in and out of the console, through the same LoginService (and its throttling) as the login API."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import QueryParameter

from metadock.console.rendering import render, see_other
from metadock.console.session import (
    CONSOLE_PUBLIC,
    CONSOLE_ROLE,
    cleared_session_cookie,
    current_principal,
    safe_next,
    session_cookie,
)
from metadock.context import context_of
from metadock.kit.client_address import client_address
from metadock.kit.errors import AppError
from metadock.kit.principal import Role
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.users.service import login_service


@get("/login", opt={CONSOLE_PUBLIC: True})
async def login_page(
    request: Request[Any, Any, Any], next_url: Annotated[str | None, QueryParameter(name="next", required=False)] = None
) -> Response[Any]:
    if request.scope.get("user") is not None:
        return see_other(safe_next(next_url))
    return render(request, "login.html", next_url=safe_next(next_url), email="", error=None)


@post("/login", opt={CONSOLE_PUBLIC: True})
async def login_submit(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "")))
    context = context_of(request)
    client = client_address(request, context.settings.trusted_proxies)
    try:
        # Its own transaction, committed before the answer: failed attempts must count even though they fail.
        async with unit.transaction() as connection:
            outcome = await login_service(context, connection).login(email, password, client)
    except AppError as error:
        if error.status != 429:
            raise
        response = render(request, "login.html", status=429, next_url=next_url, email=email, error=error.detail)
        response.headers.update(error.headers)
        return response
    if outcome.token is None:
        error_text = "The email or password is wrong."
        return render(request, "login.html", status=401, next_url=next_url, email=email, error=error_text)
    response = see_other(next_url)
    response.set_cookie(session_cookie(request, outcome.token, outcome.expires_in))
    return response


@post("/logout", opt={CONSOLE_ROLE: Role.READER})
async def logout(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    context = context_of(request)
    async with unit.transaction() as connection:
        await login_service(context, connection).logout(current_principal(request))
    response = see_other("/console/login")
    response.set_cookie(cleared_session_cookie(request))
    return response
