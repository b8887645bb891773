"""Reading ahead: an authenticated read's credential and its record in one statement, one round trip.

On PostgreSQL every statement is a round trip, a wake-up of a server backend; a read of one record by its key with an
API key was two (the credential, then the record). A route whose handler begins by reading one row declares that read
(:data:`READ_AHEAD`: a function of its path parameters giving a :class:`ScopedRead`, built by the repository that
will run it, tenant scoping included). Authentication then sends the credential's lookup and that read as one
statement (:func:`fused`): the credential as a ``WITH``, the read as a subquery whose tenant is the one of the
credential *if it may be used at all* (a revoked key scopes the read to no tenant), joined on ``true``. The principal
is decided from the credential's columns exactly as from its own lookup; the record's columns are kept by the
request's connection (:class:`Answer`), which hands them to the repository when it runs that very read next, with the
same parameters and the principal's tenant, instead of sending it. Any other statement first, and the answer is
dropped: the read then runs as always. Nothing is served that the read would not have returned: the two statements'
columns, types and processors are the same, compiled from the same statements, and one statement sees one snapshot.

Repositories and handlers do not know whether an answer was read ahead; the credential kinds that can be fused
provide their lookup (``CredentialLookup`` in ``kit/principal.py``), the others (login tokens) resolve as before, and
so does every route that declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Integer, Select, literal_column, select, true
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import CTE
from sqlalchemy.sql.visitors import replacement_traverse

READ_AHEAD: Final = "read_ahead"  # route opt: (path parameters) -> ScopedRead | None
TENANT_PARAMETER: Final = "scope_tenant_id"  # the bound tenant of a repository's prebuilt statements
_CREDENTIAL: Final = "credential__"  # the prefix of the credential's columns in a fused row
_FOUND: Final = "read__found"  # not NULL when the read found its row
_MAX_FUSED: Final = 256


@dataclass(frozen=True, slots=True)
class ScopedRead:
    """A read of at most one row as its repository will run it: ``statement`` (built once, its tenant bound as
    :data:`TENANT_PARAMETER`) and its other ``parameters``."""

    statement: Select[Any]
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CredentialQuery:
    """A credential's lookup as its kind runs it (at most one row, whatever tenant), and ``usable_tenant``: given the
    lookup as a ``WITH``, the scalar subquery of the tenant that a read may be scoped to (none for a credential that
    can never be accepted, a revoked key)."""

    statement: Select[Any]
    parameters: Mapping[str, Any]
    usable_tenant: Callable[[CTE], ColumnElement[Any]]


@dataclass(frozen=True, slots=True)
class Answer:
    """The row (or None) that ``statement`` with ``parameters`` returned, read ahead: a connection serves it once."""

    statement: Select[Any]
    parameters: Mapping[str, Any]
    row: Mapping[str, Any] | None

    def answers(self, statement: object, parameters: Mapping[str, Any] | None) -> bool:
        return statement is self.statement and parameters == self.parameters


@dataclass(frozen=True, slots=True)
class Fused:
    lookup: Select[Any]  # held, as the read is: the cache is keyed by their identities
    read: Select[Any]
    statement: Select[Any]
    credential_keys: tuple[tuple[str, str], ...]  # (the credential's key, its label in the fused row)
    record_keys: tuple[str, ...]

    def split(self, row: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The credential's row and the read's, as each statement alone returns them (None where there is none)."""
        if row is None:
            return None, None
        credential = {key: row[label] for key, label in self.credential_keys}
        if row[_FOUND] is None:
            return credential, None
        return credential, {key: row[key] for key in self.record_keys}


_FUSED: dict[tuple[int, int], Fused] = {}


def _scoped_to(statement: Select[Any], tenant: ColumnElement[Any]) -> Select[Any]:
    """``statement`` with its bound tenant replaced by ``tenant``."""

    def replace(element: Any) -> Any:
        if isinstance(element, BindParameter) and element.key == TENANT_PARAMETER:
            return tenant
        return None

    replaced: Any = replacement_traverse(statement, {}, replace)  # type: ignore[call-overload]
    return cast("Select[Any]", replaced)


def fused(lookup: CredentialQuery, read: ScopedRead) -> Fused:
    """One statement for the credential's lookup and the read, built once per pair (see the module's docstring)."""
    key = (id(lookup.statement), id(read.statement))
    cached = _FUSED.get(key)
    if cached is not None and cached.lookup is lookup.statement and cached.read is read.statement:
        return cached
    credential = lookup.statement.cte("credential")
    scoped = _scoped_to(read.statement, lookup.usable_tenant(credential))
    record = scoped.add_columns(literal_column("1", Integer()).label(_FOUND)).subquery("read")
    credential_keys = tuple((column.key, f"{_CREDENTIAL}{column.key}") for column in credential.c)
    record_keys = tuple(column.key for column in record.c if column.key != _FOUND)
    if len(set(record_keys)) != len(record_keys) or any(key.startswith(_CREDENTIAL) for key in record_keys):
        raise ValueError("a read ahead needs distinct column names")
    statement = select(*(credential.c[name].label(label) for name, label in credential_keys), *record.c).select_from(
        credential.outerjoin(record, true())
    )
    built = Fused(lookup.statement, read.statement, statement, credential_keys, record_keys)
    if len(_FUSED) < _MAX_FUSED:
        _FUSED[key] = built
    return built


def fused_parameters(lookup: CredentialQuery, read: ScopedRead) -> dict[str, Any]:
    parameters = {**read.parameters, **lookup.parameters}
    if len(parameters) != len(read.parameters) + len(lookup.parameters):
        raise ValueError("a credential's lookup and a read ahead must not share parameter names")
    return parameters
