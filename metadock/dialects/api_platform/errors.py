"""DigitalState's error dialect: RFC 7807 problem details as API Platform renders them."""

from __future__ import annotations

from typing import Any

from litestar import Response

from metadock.kit.errors import AppError

PROBLEM_TYPE = "https://tools.ietf.org/html/rfc2616#section-10"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def render_problem(error: AppError) -> Response[Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": "An error occurred",
        "status": error.status,
        "detail": error.detail,
    }
    if error.violations:
        body["violations"] = [{"propertyPath": v.path, "message": v.message} for v in error.violations]
    return Response(body, status_code=error.status, media_type=PROBLEM_MEDIA_TYPE, headers=error.headers)
