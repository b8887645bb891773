"""What the running app holds for the generic layers: settings, the database and the credential resolvers.

The app's full context (:class:`metadock.context.AppContext`) extends this with what its resources need (the payload
store); ``kit`` sees only this part, so it depends on no resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from metadock.kit.db import Database
from metadock.kit.principal import CredentialResolver
from metadock.settings import Settings

STATE_KEY = "metadock"


@dataclass(slots=True)
class RuntimeContext:
    settings: Settings
    database: Database
    resolvers: Sequence[CredentialResolver]
    signing_key: str


def runtime_of(connection: ASGIConnection[Any, Any, Any, Any]) -> RuntimeContext:
    context: RuntimeContext = connection.app.state[STATE_KEY]
    return context
