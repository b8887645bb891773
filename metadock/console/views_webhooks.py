"""Admin pages for the tenant's webhooks (``/api/v1/webhooks`` in pages): list, subscribe (the signing secret shown
once, on the page that created it), delete, and one webhook's delivery history, newest first, a keyset page at a
time. All through :class:`WebhookService`, so the API's validation (the URL's SSRF checks, the events, the limit),
tenant scoping and 404s."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from metadock.console.forms import create_form, create_from_form
from metadock.console.params import OptionalText, optional_id
from metadock.console.rendering import render, see_other
from metadock.console.session import current_principal
from metadock.console.views_admin import ADMIN
from metadock.kit.context import runtime_of
from metadock.kit.db import Connection
from metadock.kit.errors import Violation
from metadock.kit.unit_of_work import RequestUnitOfWork, UnitOfWork
from metadock.webhooks.outbox import EVENTS
from metadock.webhooks.schemas import WebhookCreate, WebhookOut
from metadock.webhooks.service import MAX_SUBSCRIPTIONS, WebhookService

PAGE = "/console/admin/webhooks"
DELIVERIES_PER_PAGE = 50


def _service(request: Request[Any, Any, Any], connection: Connection) -> WebhookService:
    allow_private = runtime_of(request).settings.webhooks_allow_private
    return WebhookService(connection, current_principal(request).tenant_id, allow_private=allow_private)


async def _webhooks_page(
    request: Request[Any, Any, Any],
    unit: UnitOfWork,
    *,
    errors: list[Violation] | None = None,
    typed: dict[str, Any] | None = None,
    issued: WebhookOut | None = None,
    status: int = 200,
    resent: bool = False,
) -> Response[Any]:
    async with unit.transaction() as connection:
        service = _service(request, connection)
        webhooks = await service.list_all()
        counts = await service.unsettled_counts()
    return render(
        request,
        "admin_webhooks.html",
        status=status,
        webhooks=webhooks,
        counts=counts,
        events=EVENTS,
        errors=errors or [],
        typed=typed or {"url": "", "events": list(EVENTS)},
        issued=issued,
        resent=resent,
        max_webhooks=MAX_SUBSCRIPTIONS,
    )


@get("/admin/webhooks", opt=ADMIN)
async def webhooks_page(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, resent: OptionalText = None
) -> Response[Any]:
    return await _webhooks_page(request, unit, resent=bool(resent))


@post("/admin/webhooks", opt=ADMIN)
async def webhook_create(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    form = await create_form(request)
    body = WebhookCreate(url=form.text("url").strip(), events=form.texts("events"))
    typed = {"url": body.url, "events": body.events}

    async def invalid(errors: list[Violation]) -> Response[Any]:
        return await _webhooks_page(request, unit, errors=errors, typed=typed, status=422)

    async def show(issued: WebhookOut) -> Response[Any]:
        # The secret is in this one response only: the list (and a reload, which lands there) never shows it again.
        return await _webhooks_page(request, unit, issued=issued, status=201)

    return await create_from_form(
        unit,
        form,
        PAGE,
        lambda connection: _service(request, connection).create(body),
        invalid=invalid,
        created=show,
    )


@get("/admin/webhooks/{webhook_id:str}", opt=ADMIN)
async def webhook_detail(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, webhook_id: FromPath[str], before: OptionalText = None
) -> Response[Any]:
    """The webhook and its deliveries, newest first; ``before`` (a delivery id) pages to older ones."""
    older_than = optional_id(before, "before")
    async with unit.transaction() as connection:
        service = _service(request, connection)
        webhook = await service.get(webhook_id)  # 404 for another tenant's or a missing one, before anything else
        deliveries = await service.deliveries(webhook_id, before=older_than, limit=DELIVERIES_PER_PAGE + 1)
        counts = (await service.unsettled_counts()).get(webhook_id, {})
    more = len(deliveries) > DELIVERIES_PER_PAGE
    deliveries = deliveries[:DELIVERIES_PER_PAGE]
    return render(
        request,
        "admin_webhook.html",
        webhook=webhook,
        deliveries=deliveries,
        counts=counts,
        older=deliveries[-1].id if more else None,
        paged=older_than is not None,
        per_page=DELIVERIES_PER_PAGE,
    )


@post("/admin/webhooks/{webhook_id:str}/delete", opt=ADMIN)
async def webhook_delete(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, webhook_id: FromPath[str]
) -> Response[Any]:
    """Its pending deliveries are not sent, and its history goes with it."""
    async with unit.transaction() as connection:
        await _service(request, connection).delete(webhook_id)
    return see_other(PAGE)
