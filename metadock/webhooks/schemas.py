"""Request and response shapes of ``/api/v1/webhooks`` (Laravel's conventions: ``{"data": ...}``)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType


class WebhookCreate(msgspec.Struct, kw_only=True):
    url: str
    events: list[str]


class WebhookOut(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[str]
    created_at: str
    secret: str | UnsetType = UNSET  # only in the answer to its creation


class WebhookEnvelope(msgspec.Struct):
    data: WebhookOut


class WebhookList(msgspec.Struct):
    data: list[WebhookOut]


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: int
    event: str
    subject_id: int | None
    occurred_at: str
    status: str  # pending, delivered or failed
    attempts: int
    next_attempt_at: str | None  # null once delivered or failed
    last_attempt_at: str | None
    last_status: int | None  # the receiver's HTTP status at the last attempt
    last_error: str | None
    delivered_at: str | None


class DeliveryList(msgspec.Struct):
    data: list[DeliveryOut]
