"""People: users of a tenant, their logins and their tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from metadock.kit.context import RuntimeContext
from metadock.kit.db import Connection
from metadock.kit.errors import AppError, Violation, not_found, validation_failed
from metadock.kit.ids import is_generated_id
from metadock.kit.principal import Principal, Role
from metadock.users import passwords, tokens
from metadock.users.repository import CredentialRepository, EmailTaken, UserRepository
from metadock.users.tables import users

MAX_EMAIL = 320


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_email(email: str) -> str:
    return email.strip().casefold()


def email_problem(email: str) -> str | None:
    local, at, domain = email.partition("@")
    if not at or not local or not domain or len(email) > MAX_EMAIL or any(c.isspace() or c == "\x00" for c in email):
        return "The email field must be a valid email address."
    return None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: Role
    disabled: bool
    created_at: dt.datetime


def _user(row: Any) -> User:
    return User(row["id"], row["email"], Role(row["role"]), row["disabled_at"] is not None, row["created_at"])


class UserService:
    """Managing the users of one tenant."""

    def __init__(self, connection: Connection, tenant_id: int) -> None:
        self.repository = UserRepository(connection, tenant_id)

    async def create(self, email: str, password: str, role: Role) -> User:
        email = normalize_email(email)
        violations = [
            Violation(field, problem)
            for field, problem in (("email", email_problem(email)), ("password", passwords.password_problem(password)))
            if problem
        ]
        if violations:
            raise validation_failed(violations, status=422)
        now = _now()
        values = {
            "id": str(uuid.uuid4()),
            "email": email,
            "role": role.value,
            "password_hash": await passwords.hash_password(password),
            "created_at": now,
            "updated_at": now,
        }
        try:
            return _user(await self.repository.insert(values))
        except EmailTaken:
            raise validation_failed([Violation("email", "The email has already been taken.")], status=422) from None

    async def list(self) -> list[User]:
        return [_user(row) for row in await self.repository.list_all()]

    async def reset_password(self, email: str, password: str) -> User:
        """A new password; every token issued before it stops working (the old password may be the leaked one)."""
        problem = passwords.password_problem(password)
        if problem:
            raise validation_failed([Violation("password", problem)], status=422)
        values = {
            "password_hash": await passwords.hash_password(password),
            "token_generation": users.c.token_generation + 1,
            "updated_at": _now(),
        }
        row = await self.repository.update_by_email(normalize_email(email), values)
        if row is None:
            raise not_found("No such user.")
        return _user(row)

    async def update(self, user_id: str, *, role: Role | None, disabled: bool | None) -> User:
        if not is_generated_id(user_id):
            raise not_found("No such user.")
        now = _now()
        values: dict[str, Any] = {"updated_at": now}
        if role is not None:
            values["role"] = role.value
        if disabled is not None:
            values["disabled_at"] = now if disabled else None
            if disabled:
                values["token_generation"] = users.c.token_generation + 1
        row = await self.repository.update(user_id, values)
        if row is None:
            raise not_found("No such user.")
        return _user(row)


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    token: str | None  # None: wrong credentials (failures recorded; the caller commits, then answers 401)
    expires_in: int


class LoginService:
    def __init__(self, connection: Connection, *, secret: str, ttl_seconds: int, policy: ThrottlePolicy) -> None:
        self.repository = CredentialRepository(connection)
        self.secret = secret
        self.ttl_seconds = ttl_seconds
        self.policy = policy

    async def login(self, email: str, password: str, client_address: str) -> LoginOutcome:
        email = normalize_email(email)
        if "\x00" in email:
            # No address holds one, and PostgreSQL cannot even compare text with it: the client's mistake, not ours.
            raise validation_failed([Violation("username", "The username field must be a valid email address.")], 422)
        user_subject, address_subject = f"user:{email}"[:400], f"ip:{client_address}"[:400]
        subjects = [user_subject, address_subject]
        now = _now()
        blocked_until = await self.repository.blocked_until(subjects, now)
        if blocked_until is not None:
            retry_after = max(int((blocked_until - now).total_seconds()) + 1, 1)
            raise AppError(429, "Too Many Attempts.", headers={"Retry-After": str(retry_after)})
        row = await self.repository.find_for_login(email) if email else None
        verified = await passwords.verify_password(row["password_hash"] if row else None, password)
        if row is None or not verified or row["disabled_at"] is not None:
            limits = ((user_subject, self.policy.max_failures), (address_subject, self.policy.max_failures_per_address))
            for subject, limit in limits:
                await self.repository.record_failure(
                    subject, now, window=self.policy.window, max_failures=limit, block=self.policy.block
                )
            return LoginOutcome(None, 0)
        # Only the account's count: a valid login of one's own must not wipe an address guessing at other accounts.
        await self.repository.clear_failures([user_subject])
        token, _ = tokens.issue_token(
            self.secret,
            user_id=row["id"],
            tenant_uuid=row["tenant_uuid"],
            role=row["role"],
            ttl_seconds=self.ttl_seconds,
            generation=row["token_generation"],
        )
        return LoginOutcome(token, self.ttl_seconds)

    async def logout(self, principal: Principal) -> None:
        if principal.token_id is None or principal.token_expires_at is None:
            raise AppError(400, "Only a login token can be logged out; revoke an API key instead.")
        await self.repository.revoke_token(principal.token_id, principal.token_expires_at, _now())


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int  # per account
    max_failures_per_address: int  # per client address, higher: many people may share one address
    window: dt.timedelta
    block: dt.timedelta


class JwtResolver:
    """Bearer JWTs from login. The user is read on every request, so disabling or demoting them acts at once."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def recognizes(self, token: str) -> bool:
        return tokens.looks_like_jwt(token)

    def lookup(self, token: str) -> None:  # noqa: ARG002 - decided from the token's claims and the user's row
        return None

    async def resolve(self, token: str, connection: Connection) -> Principal | None:
        try:
            claims = tokens.decode_token(self.secret, token)
        except tokens.InvalidToken:
            return None
        row = await CredentialRepository(connection).find_for_token(claims.user_id, claims.token_id)
        if row is None or row["revoked"] or row["disabled_at"] is not None or row["tenant_uuid"] != claims.tenant_uuid:
            return None
        if claims.generation != row["token_generation"]:
            return None  # issued before the user was last disabled
        return Principal(
            row["tenant_id"],
            row["tenant_uuid"],
            Role(row["role"]),
            row["id"],
            "jwt",
            token_id=claims.token_id,
            token_expires_at=claims.expires_at,
            content_search=bool(row["content_search"]),
        )


def login_service(context: RuntimeContext, connection: Connection) -> LoginService:
    """The login service with the configured throttling (the API's login and the console's)."""
    settings = context.settings
    policy = ThrottlePolicy(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window=dt.timedelta(seconds=settings.login_failure_window_seconds),
        block=dt.timedelta(seconds=settings.login_block_seconds),
    )
    return LoginService(connection, secret=context.signing_key, ttl_seconds=settings.token_ttl_seconds, policy=policy)
