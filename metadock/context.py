"""The app's context in ``app.state``: the generic runtime (``kit``) plus what the resources share (the store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from metadock.kit.context import STATE_KEY, RuntimeContext
from metadock.payloads.metrics import CaptureMetrics
from metadock.payloads.store import PayloadStore


@dataclass(slots=True)
class AppContext(RuntimeContext):
    store: PayloadStore
    capture_metrics: CaptureMetrics


def context_of(connection: ASGIConnection[Any, Any, Any, Any]) -> AppContext:
    context: AppContext = connection.app.state[STATE_KEY]
    return context
