"""The admin pages' create forms, handled one way: read the posted form and its single-use token (the CSRF token
was checked by the console guard before the handler ran), create through the resource's service in the token's
transaction (:func:`create_once`), then answer one of three ways:

- a re-sent form (reload, back and submit, two tabs): a redirect to the list page with ``?resent=1``, nothing made;
- the service's 422: the page again, its violations shown on the form with what was typed kept;
- success: the page's own answer (a redirect to the list, or a page showing a secret once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from litestar import Request, Response

from metadock.console.once import AlreadySent, create_once, form_once
from metadock.console.rendering import see_other
from metadock.console.session import current_principal
from metadock.kit.db import Connection
from metadock.kit.errors import AppError, Violation
from metadock.kit.unit_of_work import UnitOfWork

T = TypeVar("T")
# What a form's text field keeps (to create with and to show again): longer than any field's own limit (a webhook's
# URL, 2048), so a value cut here is refused by the service all the same, never created shortened; and no 10 MB echo.
MAX_FIELD = 4096


@dataclass(frozen=True, slots=True)
class CreateForm:
    """A posted create form: its fields, its single-use token, and the tenant it creates in."""

    fields: Any  # Litestar's FormMultiDict
    once: str
    tenant_id: int

    def text(self, name: str, default: str = "") -> str:
        return str(self.fields.get(name, default))[:MAX_FIELD]

    def texts(self, name: str) -> list[str]:
        """Every value of a repeated field (checkboxes of one name)."""
        return [str(value)[:MAX_FIELD] for value in self.fields.getall(name, [])]


async def create_form(request: Request[Any, Any, Any]) -> CreateForm:
    """The posted form; a form without a valid single-use token (an old page's) is a 400 before anything else."""
    form = await request.form()
    return CreateForm(form, form_once(form), current_principal(request).tenant_id)


async def create_from_form(
    unit: UnitOfWork,
    form: CreateForm,
    page: str,
    create: Callable[[Connection], Awaitable[T]],
    *,
    invalid: Callable[[list[Violation]], Awaitable[Response[Any]]] | None = None,
    created: Callable[[T], Awaitable[Response[Any]]] | None = None,
) -> Response[Any]:
    """Create once, and answer as the module says; ``page`` is the list page the form is on. Without ``invalid``
    a 422 is the console's error page; without ``created`` success redirects to ``page``."""
    try:
        made = await create_once(unit, form.tenant_id, form.once, create)
    except AlreadySent:
        return see_other(f"{page}?resent=1")
    except AppError as error:
        if error.status != 422 or invalid is None:
            raise
        return await invalid(error.violations)
    return await created(made) if created is not None else see_other(page)
