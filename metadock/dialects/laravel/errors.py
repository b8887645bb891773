"""Patchworks' error dialect: Laravel's JSON error bodies (``{"message": ...}``, plus ``errors`` on a 422)."""

from __future__ import annotations

from typing import Any

from litestar import Response

from metadock.kit.errors import AppError

# Laravel renders these statuses with fixed messages, whatever raised them.
_FIXED_MESSAGES = {
    401: "Unauthenticated.",
    403: "This action is unauthorized.",
    500: "Server Error",
}


def render_laravel(error: AppError) -> Response[Any]:
    if error.status == 400 and error.violations:
        # An invalid body is a validation failure, which Laravel answers with 422.
        error = AppError(422, error.detail, error.violations, error.headers)
    body: dict[str, Any] = {"message": _FIXED_MESSAGES.get(error.status, error.detail)}
    if error.status == 422 and error.violations:
        errors: dict[str, list[str]] = {}
        for violation in error.violations:
            errors.setdefault(violation.path, []).append(violation.message)
        first = error.violations[0].message
        more = len(error.violations) - 1
        body["message"] = first if more == 0 else f"{first} (and {more} more error{'s' if more > 1 else ''})"
        body["errors"] = errors
    return Response(body, status_code=error.status, headers=error.headers)
