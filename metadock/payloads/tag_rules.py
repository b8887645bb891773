"""A tenant's tag rules (``/api/v1/tag-rules``, admins only): which payloads' values become tags at capture."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

import sqlalchemy.exc

from metadock.kit.db import Connection
from metadock.kit.errors import Violation, not_found, validation_failed
from metadock.payloads.tag_repository import TagRuleRepository
from metadock.payloads.tag_tables import MAX_NAME, MAX_POINTER
from metadock.payloads.tags import MAX_RULES, NAME, RULES, PointerError, parse_rule
from metadock.payloads.xml_paths import XmlPathError

_TOKEN: Final = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # noqa: S105 - RFC 9110's "token", not a secret
_ESSENCE: Final = re.compile(rf"{_TOKEN}/{_TOKEN}")  # a media type without parameters


def _validated(name: str, content_type: str, pointer: str) -> tuple[str, str, str]:
    violations: list[Violation] = []
    if not NAME.fullmatch(name):
        violations.append(Violation("name", f"The name field must be 1 to {MAX_NAME} characters of a-z, 0-9 and _."))
    essence = content_type.strip().lower()
    if len(essence) > 255 or not _ESSENCE.fullmatch(essence):
        violations.append(Violation("content_type", "The content type field must be a media type without parameters."))
    if len(pointer) > MAX_POINTER:
        violations.append(Violation("pointer", f"The pointer field must not be greater than {MAX_POINTER} characters."))
    elif "\x00" in pointer:  # PostgreSQL text cannot hold NUL
        violations.append(Violation("pointer", "The pointer field must not contain NUL characters."))
    else:
        try:
            parse_rule(name, essence, pointer)
        except PointerError as error:
            violations.append(Violation("pointer", f"The pointer field must be a JSON pointer (RFC 6901). {error}"))
        except XmlPathError as error:
            message = "For an XML content type, the pointer field must be an element path (/order/id, /order/@id)."
            violations.append(Violation("pointer", f"{message} {error}"))
    if violations:
        raise validation_failed(violations, status=422)
    return name, essence, pointer


def _rule_id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 and int(raw) > 0 else None


class TagRuleService:
    def __init__(self, connection: Connection, tenant_id: int) -> None:
        self.repository = TagRuleRepository(connection, tenant_id)
        self.tenant_id = tenant_id

    async def list(self) -> list[Any]:
        return await self.repository.list_all()

    async def create(self, name: str, content_type: str, pointer: str) -> Any:
        name, essence, pointer = _validated(name, content_type, pointer)
        if await self.repository.exists(name, essence):
            raise validation_failed([Violation("name", "The name has already been taken.")], status=422)
        if await self.repository.count() >= MAX_RULES:
            message = f"A tenant may have at most {MAX_RULES} tag rules; delete one first."
            raise validation_failed([Violation("name", message)], status=422)
        try:
            row = await self.repository.insert(name, essence, pointer, dt.datetime.now(dt.UTC))
        except sqlalchemy.exc.IntegrityError:  # the same rule created concurrently
            raise validation_failed([Violation("name", "The name has already been taken.")], status=422) from None
        RULES.forget(self.tenant_id)  # this worker applies it at once; the others within the cache's TTL
        return row

    async def delete(self, raw_id: str) -> None:
        rule_id = _rule_id(raw_id)
        if rule_id is None or not await self.repository.delete(rule_id):
            raise not_found(f"No query results for tag rule {raw_id[:40]!r}.")
        RULES.forget(self.tenant_id)
