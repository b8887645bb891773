"""Metadock's OpenAPI document is a superset of the seeds: a client written from either keeps working.

- The Patchworks contract (``contracts/patchworks-payload-metadata.openapi.json``, vendored as published): every path,
  method, parameter (name, location, type, bounds), response status and response property appears in Metadock's
  document with a compatible type.
- The DigitalState seed (``contracts/digitalstate-metadata.md``, vendored as published): every operation's path,
  query, path and body parameters, statuses and response properties from its tables.

Compatible means: a parameter accepts every value the seed allows (same type, bounds no narrower); a response
property has the seed's type among its types (Metadock adds ``null`` where the README's compatibility choices say).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from metadock.app import create_app
from metadock.settings import Settings

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"
PATCHWORKS = json.loads((CONTRACTS / "patchworks-payload-metadata.openapi.json").read_text())
OURS = create_app(Settings(database_url="sqlite:///:memory:")).openapi_schema.to_schema()


def _template(path: str) -> str:
    """Path parameter names are not on the wire (the contract itself spells one two ways): compare positions."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _our_path(path: str) -> str:
    matches = [candidate for candidate in OURS["paths"] if _template(candidate) == _template(path)]
    assert matches, f"{path} is missing from Metadock's document"
    return matches[0]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = schema.get("type")
    found = set(kinds if isinstance(kinds, list) else [kinds] if kinds else [])
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        found |= _types(_resolve(OURS, option))
    if schema.get("nullable"):
        found.add("null")
    return found


def _accepts(ours: dict[str, Any], theirs: dict[str, Any], where: str) -> None:
    """A parameter: ours takes every value theirs allows."""
    our_types, their_types = _types(ours), _types(theirs)
    assert their_types <= our_types or our_types == {"string"}, f"{where}: {our_types} does not take {their_types}"
    if "minimum" in ours:
        assert ours["minimum"] <= theirs.get("minimum", float("-inf")), f"{where}: minimum narrower"
    if "maximum" in ours:
        assert ours["maximum"] >= theirs.get("maximum", float("inf")), f"{where}: maximum narrower"


def _has_properties(ours: dict[str, Any], theirs: dict[str, Any], where: str) -> None:
    """A response: every property theirs names is in ours, of their type (recursively)."""
    ours, theirs = _resolve(OURS, ours), _resolve(PATCHWORKS, theirs)
    if theirs.get("type") and theirs["type"] != "object":
        assert _types(theirs) - {"null"} <= _types(ours), f"{where}: {_types(ours)} is not {_types(theirs)}"
    if "items" in theirs:
        _has_properties(ours.get("items", {}), theirs["items"], f"{where}[]")
    for name, their_property in theirs.get("properties", {}).items():
        assert name in ours.get("properties", {}), f"{where}.{name} is missing"
        _has_properties(ours["properties"][name], their_property, f"{where}.{name}")


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(path, method) for path, item in document["paths"].items() for method in item if method != "parameters"]


@pytest.mark.parametrize(("path", "method"), _operations(PATCHWORKS))
def test_every_patchworks_operation_is_in_metadock_with_compatible_parameters_and_responses(
    path: str, method: str
) -> None:
    theirs = PATCHWORKS["paths"][path][method]
    ours = OURS["paths"][_our_path(path)].get(method)
    assert ours is not None, f"{method.upper()} {path} is missing"

    our_parameters = ours.get("parameters", [])
    our_path_parameters = [p for p in our_parameters if p["in"] == "path"]
    their_path_parameters = [p for p in theirs.get("parameters", []) if p["in"] == "path"]
    assert len(our_path_parameters) == len(their_path_parameters)
    for our, their in zip(our_path_parameters, their_path_parameters, strict=True):
        _accepts(our["schema"], their["schema"], f"{path} path parameter {their['name']}")
    for their in theirs.get("parameters", []):
        if their["in"] == "path":
            continue
        found = [p for p in our_parameters if (p["name"], p["in"]) == (their["name"], their["in"])]
        assert found, f"{method.upper()} {path}: parameter {their['name']} ({their['in']}) is missing"
        assert found[0].get("required", False) <= their.get("required", False), f"{their['name']} became required"
        _accepts(found[0]["schema"], their["schema"], f"{path} parameter {their['name']}")

    assert {"ApiKeyAuth", "BearerAuth"} <= {name for requirement in ours["security"] for name in requirement}
    for status, their_response in theirs["responses"].items():
        assert status in ours["responses"], f"{method.upper()} {path}: status {status} is missing"
        for media_type, their_media in their_response.get("content", {}).items():
            our_content = ours["responses"][status]["content"]
            if media_type not in our_content:
                # The download: Metadock documents the bytes under any type ("*/*", binary), which covers theirs.
                assert "*/*" in our_content, f"{path} {status}: {media_type} is missing"
                continue
            _has_properties(our_content[media_type]["schema"], their_media["schema"], f"{path} {status}")


def test_the_security_schemes_are_the_contracts() -> None:
    assert OURS["components"]["securitySchemes"]["ApiKeyAuth"] | {"description": None} == PATCHWORKS["components"][
        "securitySchemes"
    ]["ApiKeyAuth"] | {"description": None}
    ours, theirs = OURS["components"]["securitySchemes"]["BearerAuth"], PATCHWORKS["components"]["securitySchemes"]
    assert {k: ours[k] for k in ("type", "scheme", "bearerFormat")} == {
        k: theirs["BearerAuth"][k] for k in ("type", "scheme", "bearerFormat")
    }


# --- DigitalState: the seed's markdown tables ---------------------------------------------------------------------

_SEED_TYPES = {"integer": {"integer"}, "string": {"string"}, "object": {"object"}, "json": set()}


def _seed_operations() -> list[dict[str, Any]]:
    """Each ``## `` section: its method and path, and the rows of the tables under its ``#### `` headings."""
    operations: list[dict[str, Any]] = []
    heading: str | None = None
    for line in (CONTRACTS / "digitalstate-metadata.md").read_text().splitlines():
        if line.startswith("## ") and "Table of Contents" not in line:
            operations.append({"tables": {}})
        elif match := re.fullmatch(r"(GET|POST|PUT|DELETE) `(/[^`]+)`", line):
            operations[-1]["method"], operations[-1]["path"] = match[1].lower(), match[2]
        elif line.startswith("### Example"):
            heading = None
        elif line.startswith("#### "):
            heading = line.removeprefix("#### ")
            operations[-1]["tables"][heading] = []
        elif heading and line.startswith("| ") and not set(line) <= set("|-: "):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if cells[0] != "Name":
                operations[-1]["tables"][heading].append(cells)
    return operations


SEED = _seed_operations()


def _schema_of(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(OURS, schema)
    assert name in schema.get("properties", {}), f"{name} is missing"
    return _resolve(OURS, schema["properties"][name])


@pytest.mark.parametrize("seed", SEED, ids=[f"{op['method']} {op['path']}" for op in SEED])
def test_every_digitalstate_operation_is_in_metadock_with_its_tables(seed: dict[str, Any]) -> None:
    ours = OURS["paths"][seed["path"]][seed["method"]]
    parameters = {(p["name"], p["in"]): p for p in ours.get("parameters", [])}
    for heading, location in (("Query Parameters", "query"), ("Path Parameters", "path")):
        for name, kind, *_rest in seed["tables"].get(heading, []):
            assert (name, location) in parameters, f"{location} parameter {name} is missing"
            assert _SEED_TYPES[kind] <= _types(parameters[name, location]["schema"]), name
    body = ours.get("requestBody", {}).get("content", {})
    for name, kind, description, *_rest in seed["tables"].get("Body", []):
        schema = _schema_of(name, body["application/json"]["schema"])
        assert _SEED_TYPES[kind] <= _types(schema) or not _types(schema), name
        if "__Required.__" in description and seed["method"] == "post":
            assert name in _resolve(OURS, body["application/json"]["schema"]).get("required", []), name
    for heading, rows in seed["tables"].items():
        if not re.match(r"\d{3} ", heading):
            continue
        status = heading[:3]
        if seed["method"] == "post" and status == "200":
            status = "201"  # API Platform's answer to a creation (README, compatibility choices)
        assert status in ours["responses"], f"status {status} is missing"
        content = ours["responses"][status].get("content", {})
        schema = next(iter(content.values()))["schema"] if content else {}
        schema = _resolve(OURS, schema)
        if schema.get("type") == "array":
            schema = _resolve(OURS, schema["items"])
        for name, kind, *_rest in rows:
            assert _SEED_TYPES[kind] <= _types(_schema_of(name, schema)) or kind == "json", f"{status} {name}"


def test_the_seed_tables_were_read() -> None:
    """The parser can fail: it found the five operations and their tables."""
    assert [(op["method"], op["path"]) for op in SEED] == [
        ("get", "/metadatas"),
        ("get", "/metadatas/{uuid}"),
        ("post", "/metadatas"),
        ("put", "/metadatas/{uuid}"),
        ("delete", "/metadatas/{uuid}"),
    ]
    assert len(SEED[0]["tables"]["Query Parameters"]) == 20
    assert [row[0] for row in SEED[2]["tables"]["400 Bad Request"]] == ["type", "title", "detail"]
