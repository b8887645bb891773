"""XML tag rules (``payloads/xml_paths.py``): a rule whose content type is XML holds an element path in ``pointer``
(``/order/id``, ``/order/@id``), extracted at capture from the bounded head with a parser that refuses any DTD, so a
hostile payload (entity expansion, external entities) is stored and simply gets no extracted tags."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from metadock.payloads.tags import Rule, extract, parse_rule
from metadock.payloads.xml_paths import XmlPath, XmlPathError, parse_xml_path
from tests.factories import PAYLOADS, TenantKeys, laravel_error
from tests.test_payload_tags import _capture, _listed, _no_cached_rules, _rule, _tags  # noqa: F401

Client = TestClient[object]

ORDER = b"""<?xml version="1.0" encoding="UTF-8"?>
<order id="A-17" xmlns:x="urn:extra">
  <id> 1234 </id>
  <customer><name>ACME &amp; Sons</name><country x:code="GB">United Kingdom</country></customer>
  <lines><line><sku>S-1</sku></line><line><sku>S-2</sku></line></lines>
</order>"""


def _rules(*pairs: tuple[str, str]) -> list[Rule]:
    return [parse_rule(name, "application/xml", path) for name, path in pairs]


def test_element_paths_attributes_and_the_first_match_are_extracted() -> None:
    rules = _rules(
        ("order_id", "/order/id"),
        ("ref", "/order/@id"),
        ("customer", "/order/customer/name"),
        ("code", "/order/customer/country/@code"),  # a prefixed attribute, by its local name
        ("sku", "/order/lines/line/sku"),  # the first line's
        ("lines", "/order/lines"),  # child elements, no text: no tag
        ("absent", "/order/missing"),
        ("not_root", "/id"),  # paths start at the root element
    )
    chunks = [ORDER[:40], ORDER[40:41], ORDER[41:]]  # fed as it streamed, split anywhere
    assert extract(rules, "application/xml; charset=utf-8", chunks) == {
        "order_id": "1234",  # surrounding whitespace removed
        "ref": "A-17",
        "customer": "ACME & Sons",
        "code": "GB",
        "sku": "S-1",
    }
    assert extract(rules, "application/json", [ORDER]) == {}  # rules apply to their own media type only


def test_namespaces_are_ignored_names_match_by_their_local_part() -> None:
    rules = _rules(("order_id", "/order/id"))
    prefixed = b'<o:order xmlns:o="urn:orders"><o:id>7</o:id></o:order>'
    default = b'<order xmlns="urn:orders"><id>8</id></order>'
    assert extract(rules, "application/xml", [prefixed]) == {"order_id": "7"}
    assert extract(rules, "application/xml", [default]) == {"order_id": "8"}
    text_xml = [parse_rule("order_id", "text/xml", "/order/id")]
    assert extract(text_xml, "text/xml", [default]) == {"order_id": "8"}


@pytest.mark.parametrize(
    "document",
    [
        # Billion laughs: entities expanding to entities.
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;">]><order><id>&lol2;</id></order>',
        # XXE: an external entity (a file) and an external DTD.
        b'<?xml version="1.0"?><!DOCTYPE order [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<order><id>&xxe;</id></order>",
        b'<?xml version="1.0"?><!DOCTYPE order SYSTEM "http://127.0.0.1:1/evil.dtd"><order><id>1</id></order>',
        # Parameter entities.
        b'<?xml version="1.0"?><!DOCTYPE order [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>'
        b"<order><id>1</id></order>",
        # Any DTD at all, even a harmless one, and an undeclared entity.
        b'<?xml version="1.0"?><!DOCTYPE order [<!ELEMENT order ANY>]><order><id>1</id></order>',
        b"<order><id>&undeclared;</id></order>",
        # Malformed: unclosed, mismatched, not XML.
        b"<order><id>1</id>",
        b"<order><id>1</order></id>",
        b'{"order": {"id": 1}}',
        b"",
    ],
)
def test_hostile_or_malformed_xml_gives_no_tags(document: bytes) -> None:
    assert extract(_rules(("order_id", "/order/id")), "application/xml", [document]) == {}


def test_element_paths_are_parsed_and_anything_else_refused() -> None:
    assert parse_xml_path("/order/id") == XmlPath(("order", "id"))
    assert parse_xml_path("/order/@id") == XmlPath(("order",), "id")
    assert parse_xml_path("/ordre/numéro") == XmlPath(("ordre", "numéro"))
    for bad in ["", "order/id", "/", "/@id", "//id", "/order//id", "/order/*", "/order[1]/id", "/o:order/id",
                "/order/@", "/order/@id/x", "/order/text()", "/1order"]:  # fmt: skip
        with pytest.raises(XmlPathError):
            parse_xml_path(bad)


def test_xml_rules_extract_tags_at_capture_and_a_hostile_payload_is_stored(client: Client, tenant: TenantKeys) -> None:
    assert _rule(client, tenant, "order_id", "/order/id", "application/xml").status_code == 201
    assert _rule(client, tenant, "ref", "/order/@id", "application/xml").status_code == 201
    assert _rule(client, tenant, "order_id", "/order/id", "text/xml").status_code == 201
    record = _capture(client, tenant, ORDER, content_type="application/xml")
    assert _tags(client, tenant, record["id"]) == {"order_id": "1234", "ref": "A-17"}
    as_text = _capture(client, tenant, b"<order><id>99</id></order>", content_type="text/xml; charset=utf-8")
    assert _tags(client, tenant, as_text["id"]) == {"order_id": "99"}
    assert _listed(client, tenant, **{"filter[tag.order_id]": "1234"}) == ([record["id"]], 1)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">'.encode() for n in range(8))
        + b"]><order><id>&i;</id></order>"
    )
    hostile = _capture(client, tenant, bomb, content_type="application/xml", **{"tag[kept]": "yes"})
    assert _tags(client, tenant, hostile["id"]) == {"kept": "yes"}
    download = client.get(f"{PAYLOADS}/{hostile['id']}/download", headers=tenant.headers())
    assert download.status_code == 200
    assert download.content == bomb  # stored exactly as sent


def test_invalid_xml_rule_paths_are_422_in_laravels_shape(client: Client, tenant: TenantKeys) -> None:
    for path in ["/order[1]/id", "//id", "/order/*", "order/id", ""]:
        body = laravel_error(_rule(client, tenant, "order_id", path, "application/xml"), 422)
        assert list(body["errors"]) == ["pointer"], body
        assert body["errors"]["pointer"][0].startswith(
            "For an XML content type, the pointer field must be an element path (/order/id, /order/@id)."
        )
    # For a JSON content type the same text is a JSON pointer (to a member named "@id"), not an element path.
    assert _rule(client, tenant, "a", "/order/@id", "application/json").status_code == 201  # a member named "@id"
    listed = client.get("/api/v1/tag-rules", headers=tenant.headers()).json()["data"]
    assert [(rule["content_type"], rule["pointer"]) for rule in listed] == [("application/json", "/order/@id")]
