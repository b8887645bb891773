"""Single-use create forms: re-sending a form that created something (reload, back and submit again, a double click
that beat console.js, two tabs) creates nothing the second time, even when both copies arrive at the same moment.

Each create form carries a random token and the time it was issued. Creating consumes the token in the database, in
the same transaction as what it creates (:class:`FormTokenRepository`): a token already used is answered with a
redirect and a note before anything is done, and of two requests racing with one token only the one whose
consumption commits first keeps what it created; the other's is rolled back. Tokens are kept as long as a form is
accepted (a form older than that asks to be reloaded), so the table stays small.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from metadock.console.form_tokens import FormTokenRepository
from metadock.kit.db import Connection
from metadock.kit.errors import AppError, bad_request
from metadock.kit.unit_of_work import UnitOfWork

ONCE_FIELD = "once"
FORM_LIFETIME = dt.timedelta(days=7)  # a create form left open longer is refused and asks to be reloaded
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{22})\.([0-9a-f]{1,12})$")  # random part, issue time (unix seconds, hex)

T = TypeVar("T")


class AlreadySent(Exception):
    """This form has created something already: answer with the list page and a note."""


def new_token() -> str:
    return f"{secrets.token_urlsafe(16)}.{int(dt.datetime.now(dt.UTC).timestamp()):x}"


def form_once(form: Any) -> str:
    """The form's single-use token; a form without one (or too old) is from an old page."""
    token = str(form.get(ONCE_FIELD, ""))
    match = _TOKEN.match(token)
    issued = dt.datetime.fromtimestamp(int(match.group(2), 16), dt.UTC) if match else None
    if issued is None or dt.datetime.now(dt.UTC) - issued > FORM_LIFETIME:
        raise bad_request("This form is out of date. Reload the page and try again.")
    return token


async def create_once(unit: UnitOfWork, tenant_id: int, token: str, create: Callable[[Connection], Awaitable[T]]) -> T:
    """``create`` in a transaction that also consumes ``token``; raises :class:`AlreadySent` when the token was used,
    before or meanwhile (then nothing ``create`` did is kept)."""
    try:
        async with unit.transaction() as connection:
            tokens = FormTokenRepository(connection, tenant_id)
            if await tokens.used(token):
                raise AlreadySent
            created = await create(connection)
            # Last, after the creating statements: on SQLite no write lock is held across create's awaits.
            now = dt.datetime.now(dt.UTC)
            if not await tokens.consume(token, now):
                raise AlreadySent  # a twin of this request committed first: roll back what this one made
            await tokens.forget_before(now - FORM_LIFETIME - dt.timedelta(days=1))
            return created
    except AppError:
        # What this request created may have collided with its twin's (the same email, on a unique index): if the
        # twin's consumption is committed, this is a re-sent form, not a mistake of the operator's.
        async with unit.transaction() as connection:
            if await FormTokenRepository(connection, tenant_id).used(token):
                raise AlreadySent from None
        raise
