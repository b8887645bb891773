"""Admin page for the tenant's tag rules (``/api/v1/tag-rules`` in a page): list, add (a single-use form, as the
keys and users pages), delete; through :class:`TagRuleService`, so the same validation, limit and cache refresh."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from metadock.console.forms import create_form, create_from_form
from metadock.console.params import OptionalText
from metadock.console.rendering import render, see_other
from metadock.console.session import current_principal
from metadock.console.views_admin import ADMIN
from metadock.kit.errors import Violation
from metadock.kit.unit_of_work import RequestUnitOfWork, UnitOfWork
from metadock.payloads.tag_rules import TagRuleService
from metadock.payloads.tags import MAX_RULES

PAGE = "/console/admin/tag-rules"


async def _rules_page(
    request: Request[Any, Any, Any],
    unit: UnitOfWork,
    *,
    errors: list[Violation] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
    resent: bool = False,
) -> Response[Any]:
    async with unit.transaction() as connection:
        rules = await TagRuleService(connection, current_principal(request).tenant_id).list()
    return render(
        request,
        "admin_tag_rules.html",
        status=status,
        rules=rules,
        errors=errors or [],
        typed=typed or {"name": "", "content_type": "application/json", "pointer": ""},
        resent=resent,
        max_rules=MAX_RULES,
    )


@get("/admin/tag-rules", opt=ADMIN)
async def tag_rules_page(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, resent: OptionalText = None
) -> Response[Any]:
    return await _rules_page(request, unit, resent=bool(resent))


@post("/admin/tag-rules", opt=ADMIN)
async def tag_rule_create(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    form = await create_form(request)
    typed = {field: form.text(field) for field in ("name", "content_type", "pointer")}

    async def invalid(errors: list[Violation]) -> Response[Any]:
        return await _rules_page(request, unit, errors=errors, typed=typed, status=422)

    return await create_from_form(
        unit,
        form,
        PAGE,
        lambda connection: TagRuleService(connection, form.tenant_id).create(
            typed["name"].strip(), typed["content_type"], typed["pointer"]
        ),
        invalid=invalid,
    )


@post("/admin/tag-rules/{rule_id:str}/delete", opt=ADMIN)
async def tag_rule_delete(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, rule_id: FromPath[str]
) -> Response[Any]:
    """Tags already extracted by the rule stay on their records; new captures no longer get it."""
    async with unit.transaction() as connection:
        await TagRuleService(connection, current_principal(request).tenant_id).delete(rule_id)
    return see_other(PAGE)
