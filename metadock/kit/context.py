"""What the running app holds: settings, the database, the credential resolvers. Lives in ``app.state``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection

from metadock.kit.db import Database
from metadock.settings import Settings

if TYPE_CHECKING:
    from metadock.auth.service import CredentialResolver
    from metadock.payloads.store import PayloadStore

STATE_KEY = "metadock"


@dataclass(slots=True)
class AppContext:
    settings: Settings
    database: Database
    resolvers: Sequence[CredentialResolver]
    store: PayloadStore
    signing_key: str


def context_of(connection: ASGIConnection[Any, Any, Any, Any]) -> AppContext:
    context: AppContext = connection.app.state[STATE_KEY]
    return context
