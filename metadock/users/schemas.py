"""Request and response shapes of login and of ``/api/v1/users`` (Laravel's conventions: ``{"data": ...}``)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from metadock.kit.principal import Role


class LoginRequest(msgspec.Struct, kw_only=True):
    """Patchworks sends ``username`` (the email); ``email`` is accepted too."""

    password: str
    username: str | UnsetType = UNSET
    email: str | UnsetType = UNSET


class LoginResponse(msgspec.Struct):
    message: str
    token: str
    expires_in: int


class MessageResponse(msgspec.Struct):
    message: str


class UserCreate(msgspec.Struct, kw_only=True):
    email: str
    password: str
    role: Role


class UserUpdate(msgspec.Struct, kw_only=True):
    role: Role | UnsetType = UNSET
    disabled: bool | UnsetType = UNSET


class UserOut(msgspec.Struct, kw_only=True):
    id: str
    email: str
    role: str
    disabled: bool
    created_at: str


class UserEnvelope(msgspec.Struct):
    data: UserOut


class UserList(msgspec.Struct):
    data: list[UserOut]
