"""How the API Platform dialect's errors look in the OpenAPI document: one reusable problem-details schema."""

from __future__ import annotations

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema

from metadock.dialects.api_platform.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE
from metadock.kit.openapi import INTEGER, STRING, Headers, header

_STRING = Schema(type=OpenAPIType.STRING)
_EXAMPLE = {
    "type": PROBLEM_TYPE,
    "title": "An error occurred",
    "status": 400,
    "detail": "slug: This value is already used.",
    "violations": [{"propertyPath": "slug", "message": "This value is already used."}],
}


class ProblemDocs:
    """RFC 7807 problem details as ``render_problem`` writes them, for every status."""

    def components(self) -> dict[str, Schema]:
        violation = Schema(
            type=OpenAPIType.OBJECT,
            required=["propertyPath", "message"],
            properties={"propertyPath": _STRING, "message": _STRING},
        )
        return {
            "Violation": violation,
            "Problem": Schema(
                type=OpenAPIType.OBJECT,
                description="RFC 7807 problem details, as API Platform renders them.",
                required=["type", "title", "status", "detail"],
                properties={
                    "type": _STRING,
                    "title": _STRING,
                    "status": INTEGER,
                    "detail": _STRING,
                    "violations": Schema(
                        type=OpenAPIType.ARRAY,
                        items=Reference(ref="#/components/schemas/Violation"),
                        description="Present when the error names what is wrong (a property or a parameter).",
                    ),
                },
                examples=[_EXAMPLE],
            ),
        }

    def response(self, status: int, description: str) -> OpenAPIResponse:
        headers: Headers | None = None
        if status in (429, 503):
            headers = {"Retry-After": header(INTEGER, "Seconds to wait before retrying.", required=False)}
        elif status == 405:
            headers = {"Allow": header(STRING, "The methods the path allows.", required=False)}
        return OpenAPIResponse(
            description=description,
            headers=headers,
            content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
        )
