"""``/api/v1/tag-rules``: a tenant's admins manage the rules that extract tags from captured payloads."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from metadock.api_keys.http import ADMIN_ONLY, BODY_ERRORS, time_text
from metadock.kit.authentication import principal_of
from metadock.kit.openapi import DOCS, BodyRules, Docs
from metadock.kit.unit_of_work import RequestUnitOfWork
from metadock.payloads.tag_rules import TagRuleService
from metadock.payloads.tag_tables import MAX_POINTER
from metadock.payloads.tags import NAME


class TagRuleCreate(msgspec.Struct, kw_only=True):
    name: str  # the tag's name: [a-z0-9_]{1,40}
    content_type: str  # the payloads it applies to, by media type (parameters ignored at capture): application/json
    # An RFC 6901 JSON pointer into the payload (/order/id); for an XML content type (application/xml, text/xml,
    # +xml) an element path from the root, optionally ending in an attribute (/order/id, /order/@id; xml_paths.py).
    pointer: str


POINTER_DESCRIPTION = (
    "Where the tag's value is in the payload. For a JSON content type, an RFC 6901 JSON pointer (`/order/id`, "
    "`/order/lines/0/sku`). For an XML content type (`application/xml`, `text/xml` or a `+xml` type), an element "
    "path from the root element, optionally ending in an attribute: `/order/id`, `/order/@id` (no predicates, "
    "wildcards or `//`; namespaces ignored, names compared by their local part; the first matching element's "
    "text). A payload that does not parse, or an XML one with a DTD, gets no extracted tags and is stored as always."
)
_TOKEN = "[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # noqa: S105 - RFC 9110's "token", not a secret
# What TagRuleService validates, so that a schema-valid body is never refused.
BODY_RULES = {
    "TagRuleCreate": BodyRules(
        {
            "name": Schema(type=OpenAPIType.STRING, pattern=f"^{NAME.pattern}$"),
            "content_type": Schema(type=OpenAPIType.STRING, pattern=f"^{_TOKEN}/{_TOKEN}$", max_length=255),
            "pointer": Schema(
                type=OpenAPIType.STRING,
                pattern="^(/([^~\\u0000]|~[01])*)*$",
                max_length=MAX_POINTER,
                description=POINTER_DESCRIPTION,
            ),
        }
    )
}


class TagRuleOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    content_type: str
    pointer: str
    created_at: str


class TagRuleEnvelope(msgspec.Struct):
    data: TagRuleOut


class TagRuleList(msgspec.Struct):
    data: list[TagRuleOut]


def _rule_out(row: Any) -> TagRuleOut:
    return TagRuleOut(
        id=row["id"],
        name=row["name"],
        content_type=row["content_type"],
        pointer=row["pointer"],
        created_at=time_text(row["created_at"]) or "",
    )


class TagRuleController(Controller):
    path = "/api/v1/tag-rules"
    tags = ["Management"]  # noqa: RUF012 - Litestar declares it as a plain attribute
    opt = ADMIN_ONLY

    @get("/", summary="List the tenant's tag rules", opt={DOCS: Docs("listTagRules")})
    async def list_rules(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> TagRuleList:
        service = TagRuleService(await unit.connection(), principal_of(request).tenant_id)
        return TagRuleList([_rule_out(row) for row in await service.list()])

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Create a tag rule (a JSON pointer, or an XML element path, whose value becomes a tag at capture)",
        opt={DOCS: Docs("createTagRule", errors=BODY_ERRORS)},
    )
    async def create_rule(
        self, data: JSONBody[TagRuleCreate], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> TagRuleEnvelope:
        service = TagRuleService(await unit.connection(), principal_of(request).tenant_id)
        return TagRuleEnvelope(_rule_out(await service.create(data.name, data.content_type, data.pointer)))

    @delete(
        "/{rule_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a tag rule (tags already extracted stay)",
        opt={DOCS: Docs("deleteTagRule", errors={404: "No such rule in the tenant."})},
    )
    async def delete_rule(
        self, rule_id: FromPath[str], request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> None:
        await TagRuleService(await unit.connection(), principal_of(request).tenant_id).delete(rule_id)
