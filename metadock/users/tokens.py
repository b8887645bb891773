"""JWTs for people who log in: HS256 with the server's secret key; claims sub, tenant, role, iat, exp, jti."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "tenant", "role", "iat", "exp", "jti"]


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    tenant_uuid: str
    role: str
    token_id: str
    expires_at: dt.datetime
    generation: int = 0


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2 and len(token) < 4096


def issue_token(
    secret: str, *, user_id: str, tenant_uuid: str, role: str, ttl_seconds: int, generation: int = 0
) -> tuple[str, TokenClaims]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    expires_at = now + dt.timedelta(seconds=ttl_seconds)
    claims = TokenClaims(user_id, tenant_uuid, role, uuid.uuid4().hex, expires_at, generation)
    payload = {
        "sub": claims.user_id,
        "tenant": claims.tenant_uuid,
        "role": claims.role,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "jti": claims.token_id,
        "gen": claims.generation,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_token(secret: str, token: str) -> TokenClaims:
    """Only HS256 is accepted (so ``alg: none`` and key-confusion tricks fail); every claim is required."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS})
    except jwt.PyJWTError as error:
        raise InvalidToken(type(error).__name__) from None
    try:
        return TokenClaims(
            str(payload["sub"]),
            str(payload["tenant"]),
            str(payload["role"]),
            str(payload["jti"]),
            dt.datetime.fromtimestamp(int(payload["exp"]), dt.UTC),
            int(payload.get("gen", 0)),
        )
    except (TypeError, ValueError, OverflowError):
        raise InvalidToken("malformed claims") from None
