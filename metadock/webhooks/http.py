"""``/api/v1/webhooks``: a tenant's admins manage its webhook subscriptions and read their delivery history."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from metadock.api_keys.http import ADMIN_ONLY, BODY_ERRORS
from metadock.kit.authentication import principal_of
from metadock.kit.context import runtime_of
from metadock.kit.openapi import DOCS, BodyRules, Docs
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.webhooks.outbox import EVENTS
from metadock.webhooks.schemas import DeliveryList, WebhookCreate, WebhookEnvelope, WebhookList
from metadock.webhooks.service import WebhookService
from metadock.webhooks.targets import MAX_URL_LENGTH, URL_PATTERN

BODY_RULES = {
    "WebhookCreate": BodyRules(
        {
            "url": Schema(type=OpenAPIType.STRING, pattern=URL_PATTERN, max_length=MAX_URL_LENGTH),
            "events": Schema(
                type=OpenAPIType.ARRAY, min_items=1, items=Schema(type=OpenAPIType.STRING, enum=list(EVENTS))
            ),
        }
    )
}
NOT_FOUND = {404: "No such webhook in the tenant."}


def _service(request: Request[Any, Any, Any], connection: Any) -> WebhookService:
    allow_private = runtime_of(request).settings.webhooks_allow_private
    return WebhookService(connection, principal_of(request).tenant_id, allow_private=allow_private)


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["Webhooks"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    opt = ADMIN_ONLY

    @get("/", summary="List the tenant's webhooks", opt={DOCS: Docs("listWebhooks")})
    async def list_webhooks(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> WebhookList:
        return WebhookList(await _service(request, await unit.connection()).list_all())

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Subscribe a URL to events (the signing secret is shown once)",
        opt={DOCS: Docs("createWebhook", errors=BODY_ERRORS)},
    )
    async def create_webhook(
        self, data: JSONBody[WebhookCreate], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> WebhookEnvelope:
        return WebhookEnvelope(await _service(request, await unit.connection()).create(data))

    @get("/{webhook_id:str}", summary="Show a webhook", opt={DOCS: Docs("getWebhook", errors=NOT_FOUND)})
    async def get_webhook(
        self, webhook_id: FromPath[str], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> WebhookEnvelope:
        return WebhookEnvelope(await _service(request, await unit.connection()).get(webhook_id))

    @delete(
        "/{webhook_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a webhook (its pending deliveries are not sent)",
        opt={DOCS: Docs("deleteWebhook", errors=NOT_FOUND)},
    )
    async def delete_webhook(
        self, webhook_id: FromPath[str], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> None:
        await _service(request, await unit.connection()).delete(webhook_id)

    @get(
        "/{webhook_id:str}/deliveries",
        summary="A webhook's newest 100 deliveries, newest first",
        opt={DOCS: Docs("listWebhookDeliveries", errors=NOT_FOUND)},
    )
    async def list_deliveries(
        self, webhook_id: FromPath[str], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> DeliveryList:
        return DeliveryList(await _service(request, await unit.connection()).deliveries(webhook_id))
