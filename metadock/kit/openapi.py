"""OpenAPI helpers: document query grammars that handlers parse themselves from the raw query string."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIType, Operation, Parameter, Schema


def _schema(kind: str) -> Schema:
    if kind == "array":
        return Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING))
    return Schema(type=OpenAPIType(kind))


def operation_with_query(documented: Sequence[tuple[str, str, str]]) -> type[Operation]:
    """An Operation class that lists ``documented`` (name, type, description) as optional query parameters."""
    extra = [
        Parameter(name=name, param_in=ParamType.QUERY, required=False, schema=_schema(kind), description=description)
        for name, kind, description in documented
    ]

    @dataclass
    class _DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*(self.parameters or []), *extra]

    return _DocumentedOperation
