"""How the Laravel dialect's errors look in the OpenAPI document: ``{message}``, and ``{message, errors}`` on 422."""

from __future__ import annotations

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema

from metadock.kit.openapi import INTEGER, STRING, Headers, header


class LaravelErrorDocs:
    """The bodies ``render_laravel`` writes: a message, plus the failing fields on a validation error (422)."""

    def components(self) -> dict[str, Schema]:
        return {
            "LaravelMessage": Schema(
                type=OpenAPIType.OBJECT,
                description="Laravel's error body.",
                required=["message"],
                properties={"message": STRING},
                examples=[{"message": "Unauthenticated."}],
            ),
            "LaravelValidation": Schema(
                type=OpenAPIType.OBJECT,
                description="Laravel's validation error: the first message, and every message by field.",
                required=["message", "errors"],
                properties={
                    "message": STRING,
                    "errors": Schema(
                        type=OpenAPIType.OBJECT,
                        additional_properties=Schema(type=OpenAPIType.ARRAY, items=STRING),
                    ),
                },
                examples=[
                    {
                        "message": "The flow run id field must be an integer.",
                        "errors": {"flow_run_id": ["The flow run id field must be an integer."]},
                    }
                ],
            ),
        }

    def response(self, status: int, description: str) -> OpenAPIResponse:
        name = "LaravelValidation" if status == 422 else "LaravelMessage"
        headers: Headers | None = None
        if status in (429, 503):
            headers = {"Retry-After": header(INTEGER, "Seconds to wait before retrying.", required=False)}
        elif status == 416:
            headers = {"Content-Range": header(STRING, "`bytes */<size>`: the payload's size.")}
        return OpenAPIResponse(
            description=description,
            headers=headers,
            content={"application/json": OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{name}"))},
        )
