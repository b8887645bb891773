"""GET /metadatas: every row of the seed's query-parameter table, paging, ordering, X-Total-Count and Link."""

from __future__ import annotations

import datetime as dt
import re
import uuid as uuidlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.settings import Settings
from tests.factories import TenantKeys, add_metadatas, metadata_body, set_timestamps, violation_paths

Client = TestClient[Litestar]
Resource = dict[str, Any]
Params = list[tuple[str, str]]

OWNER_UUIDS = ("c11c546e-bd01-47cf-97da-e25388357b5a", "a9d68bf7-5000-49fe-8b00-33dde235b327", None)


def seed(database_url: str, tenant: TenantKeys, count: int, prefix: str = "slug", **overrides: Any) -> list[Resource]:
    bodies = [metadata_body(slug=f"{prefix}-{index:03d}", **overrides) for index in range(count)]
    return add_metadatas(database_url, tenant.uuid, bodies)


def get(client: Client, tenant: TenantKeys, params: Params | str = "") -> httpx.Response:
    response = client.get(
        "/metadatas", params=params if isinstance(params, str) else tuple(params), headers=tenant.headers()
    )
    assert response.status_code == 200, response.text
    return response


def ids(client: Client, tenant: TenantKeys, params: Params | str = "") -> list[int]:
    return [item["id"] for item in get(client, tenant, params).json()]


def links(response: httpx.Response) -> dict[str, Params]:
    """rel -> the query of its target, from an RFC 8288 Link header."""
    found = re.findall(r'<([^>]*)>\s*;\s*rel="([^"]+)"', response.headers["link"])
    parsed: dict[str, Params] = {}
    for target, rel in found:
        parts = urlsplit(target)
        assert parts.path == "/metadatas", target
        parsed[rel] = parse_qsl(parts.query, keep_blank_values=True)
    return parsed


def page_of(params: Params) -> int:
    (page,) = [int(value) for name, value in params if name == "page"]
    return page


@pytest.fixture
def trio(database_url: str, tenant: TenantKeys) -> list[Resource]:
    """Three resources whose every filterable property differs (r0 is the seed's example)."""
    return add_metadatas(
        database_url,
        tenant.uuid,
        [
            metadata_body(
                owner="BusinessUnit",
                ownerUuid=OWNER_UUIDS[0],
                title={"en": "OAuth Providers", "fr": "Fournisseurs OAuth"},
                slug="oauth-providers",
                type="authentication",
            ),
            metadata_body(
                owner="Staff",
                ownerUuid=OWNER_UUIDS[1],
                title={"en": "Registration"},
                slug="registration",
                type="user",
            ),
            metadata_body(
                owner="System",
                ownerUuid=OWNER_UUIDS[2],
                title={"de": "Anmeldung 100% sicher", "en": "Sign_in"},
                slug="sign-in",
                type="security",
            ),
        ],
    )


# --- the response --------------------------------------------------------------------------------------------------


def test_list_is_a_plain_array_of_resources_by_id(client: Client, tenant: TenantKeys, trio: list[Resource]) -> None:
    response = get(client, tenant)

    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == trio
    assert response.headers["x-total-count"] == "3"


def test_empty_list_is_an_empty_array(client: Client, tenant: TenantKeys) -> None:
    response = get(client, tenant)

    assert response.json() == []
    assert response.headers["x-total-count"] == "0"
    assert {rel: page_of(params) for rel, params in links(response).items()} == {"first": 1, "last": 1}


def test_unknown_parameters_are_ignored(client: Client, tenant: TenantKeys, trio: list[Resource]) -> None:
    params = [("foo", "bar"), ("order", "desc"), ("callback", "x"), ("sort[id]", "desc"), ("title[en]", "nothing")]
    assert get(client, tenant, params).json() == trio


# --- exact filters -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["id", "uuid", "owner", "ownerUuid", "slug", "type"])
def test_exact_filter_single_value(client: Client, tenant: TenantKeys, trio: list[Resource], name: str) -> None:
    assert ids(client, tenant, [(name, str(trio[1][name]))]) == [trio[1]["id"]]


@pytest.mark.parametrize("name", ["id", "uuid", "owner", "ownerUuid", "slug", "type"])
@pytest.mark.parametrize("spelling", ["{}[]", "{}"])  # API Platform's, and the repeated name the OpenAPI document says
def test_exact_filter_array_form_matches_any_of(
    client: Client, tenant: TenantKeys, trio: list[Resource], name: str, spelling: str
) -> None:
    params = [(spelling.format(name), str(trio[0][name])), (spelling.format(name), str(trio[1][name]))]
    assert ids(client, tenant, params) == [trio[0]["id"], trio[1]["id"]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", "9999"),
        ("uuid", str(uuidlib.uuid4())),
        ("owner", "Nobody"),
        ("ownerUuid", str(uuidlib.uuid4())),
        ("slug", "missing"),
        ("type", "missing"),
    ],
)
def test_exact_filter_without_a_match_is_empty(
    client: Client, tenant: TenantKeys, trio: list[Resource], name: str, value: str
) -> None:
    response = get(client, tenant, [(name, value)])
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("owner", "Business"),
        ("owner", "businessunit"),
        ("slug", "oauth"),
        ("slug", "OAUTH-PROVIDERS"),
        ("type", "auth"),
    ],
)
def test_text_filters_other_than_title_match_exactly(
    client: Client, tenant: TenantKeys, trio: list[Resource], name: str, value: str
) -> None:
    assert ids(client, tenant, [(name, value)]) == []


@pytest.mark.parametrize("name", ["uuid", "ownerUuid"])
def test_uuid_filters_ignore_case(client: Client, tenant: TenantKeys, trio: list[Resource], name: str) -> None:
    assert ids(client, tenant, [(name, str(trio[0][name]).upper())]) == [trio[0]["id"]]


def test_filters_combine_with_and(client: Client, tenant: TenantKeys, trio: list[Resource]) -> None:
    assert ids(client, tenant, [("type[]", "user"), ("type[]", "security"), ("owner", "System")]) == [trio[2]["id"]]
    assert ids(client, tenant, [("type", "user"), ("owner", "System")]) == []


def test_plain_and_array_forms_of_one_filter_add_up(client: Client, tenant: TenantKeys, trio: list[Resource]) -> None:
    assert ids(client, tenant, [("slug", "registration"), ("slug[]", "sign-in")]) == [trio[1]["id"], trio[2]["id"]]


# --- title ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("OAuth", [0]),  # the seed's example
        ("providers", [0]),  # partial, in the middle
        ("oAuTh PROV", [0]),  # case-insensitive
        ("fournisseurs", [0]),  # another locale than en
        ("anmeldung", [2]),  # a locale that is not the first one
        ("istrat", [1]),
        ("100%", [2]),  # % is a literal, not a wildcard
        ("n_in", [2]),  # so is _
        ("%", [2]),
        ("_", [2]),
        ("nothing like it", []),
    ],
)
def test_title_filter_is_partial_case_insensitive_in_any_locale(
    client: Client, tenant: TenantKeys, trio: list[Resource], value: str, expected: list[int]
) -> None:
    assert ids(client, tenant, [("title", value)]) == [trio[index]["id"] for index in expected]


def test_title_filter_array_form_matches_any_of(client: Client, tenant: TenantKeys, trio: list[Resource]) -> None:
    assert ids(client, tenant, [("title[]", "OAuth"), ("title[]", "Registration")]) == [trio[0]["id"], trio[1]["id"]]


def test_title_filter_folds_non_ascii_case(client: Client, tenant: TenantKeys, database_url: str) -> None:
    (street,) = add_metadatas(database_url, tenant.uuid, [metadata_body(title={"de": "Straße", "fr": "Écoles"})])
    assert ids(client, tenant, [("title", "STRASSE")]) == [street["id"]]
    assert ids(client, tenant, [("title", "écoles")]) == [street["id"]]


# --- dates ---------------------------------------------------------------------------------------------------------

BASE = dt.datetime(2018, 7, 20, 13, 19, 30, tzinfo=dt.UTC)
# createdAt ascends with the index and updatedAt descends, so a filter reading the wrong column is caught.
CREATED = [BASE - dt.timedelta(days=1), BASE, BASE + dt.timedelta(days=1)]
UPDATED = [BASE + dt.timedelta(days=30), BASE + dt.timedelta(days=20), BASE + dt.timedelta(days=10)]


@pytest.fixture
def dated(database_url: str, tenant: TenantKeys, trio: list[Resource]) -> list[int]:
    for resource, created, updated in zip(trio, CREATED, UPDATED, strict=True):
        set_timestamps(database_url, resource["uuid"], created, updated)
    return [resource["id"] for resource in trio]


def _z(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("createdAt[before]", _z(CREATED[1]), [0, 1]),
        ("createdAt[strictly_before]", _z(CREATED[1]), [0]),
        ("createdAt[after]", _z(CREATED[1]), [1, 2]),
        ("createdAt[strictly_after]", _z(CREATED[1]), [2]),
        ("updatedAt[before]", _z(UPDATED[1]), [1, 2]),
        ("updatedAt[strictly_before]", _z(UPDATED[1]), [2]),
        ("updatedAt[after]", _z(UPDATED[1]), [0, 1]),
        ("updatedAt[strictly_after]", _z(UPDATED[1]), [0]),
        # the seed's example value, with milliseconds: 181 ms after CREATED[1]
        ("createdAt[before]", "2018-07-20T13:19:30.181Z", [0, 1]),
        ("createdAt[after]", "2018-07-20T13:19:30.181Z", [2]),
        # other spellings of the same instant
        ("createdAt[strictly_before]", "2018-07-20T13:19:30+00:00", [0]),
        ("createdAt[strictly_before]", "2018-07-20T15:19:30+02:00", [0]),
        ("createdAt[before]", "2018-07-20T08:19:30-05:00", [0, 1]),
        ("createdAt[before]", "2018-07-20T13:19:30", [0, 1]),  # no offset: UTC
        ("createdAt[before]", "2018-07-20", [0]),  # a date alone: its midnight, UTC
    ],
)
def test_date_filters(
    client: Client, tenant: TenantKeys, dated: list[int], name: str, value: str, expected: list[int]
) -> None:
    assert ids(client, tenant, [(name, value)]) == [dated[index] for index in expected]


def test_date_filter_with_an_unencoded_plus_in_the_offset(client: Client, tenant: TenantKeys, dated: list[int]) -> None:
    # Clients often forget to encode '+', which then arrives as a space.
    response = client.get("/metadatas?createdAt[after]=2018-07-20T15:19:30+02:00", headers=tenant.headers())
    assert [item["id"] for item in response.json()] == dated[1:]


def test_date_filters_combine_into_a_range(client: Client, tenant: TenantKeys, dated: list[int]) -> None:
    params = [("createdAt[after]", _z(CREATED[0])), ("createdAt[strictly_before]", _z(CREATED[2]))]
    assert ids(client, tenant, params) == dated[:2]
    params = [("createdAt[after]", _z(CREATED[1])), ("updatedAt[after]", _z(UPDATED[1]))]
    assert ids(client, tenant, params) == [dated[1]]


# --- paging --------------------------------------------------------------------------------------------------------


def test_default_page_is_the_first_ten(client: Client, tenant: TenantKeys, database_url: str) -> None:
    created = seed(database_url, tenant, 12)
    response = get(client, tenant)

    assert [item["id"] for item in response.json()] == [item["id"] for item in created[:10]]
    assert response.headers["x-total-count"] == "12"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("page", "1")], slice(0, 10)),
        ([("page", "2")], slice(10, 12)),
        ([("page", "3")], slice(0, 0)),
        ([("limit", "5")], slice(0, 5)),
        ([("limit", "5"), ("page", "2")], slice(5, 10)),
        ([("limit", "5"), ("page", "3")], slice(10, 12)),
        ([("limit", "1"), ("page", "12")], slice(11, 12)),
        ([("limit", "12")], slice(0, 12)),
        ([("limit", "50")], slice(0, 12)),
    ],
)
def test_page_and_limit(client: Client, tenant: TenantKeys, database_url: str, params: Params, expected: slice) -> None:
    created = seed(database_url, tenant, 12)
    response = get(client, tenant, params)

    assert [item["id"] for item in response.json()] == [item["id"] for item in created[expected]]
    assert response.headers["x-total-count"] == "12"


@pytest.mark.parametrize("limit", ["100", "101", "1000", "999999999"])
def test_limit_is_clamped_to_100(client: Client, tenant: TenantKeys, database_url: str, limit: str) -> None:
    created = seed(database_url, tenant, 101)
    response = get(client, tenant, [("limit", limit)])

    assert [item["id"] for item in response.json()] == [item["id"] for item in created[:100]]
    assert response.headers["x-total-count"] == "101"
    assert page_of(links(response)["last"]) == 2
    assert ids(client, tenant, [("limit", limit), ("page", "2")]) == [created[100]["id"]]


def test_a_limit_up_to_the_documented_maximum_is_clamped_and_past_it_is_a_400(
    client: Client, tenant: TenantKeys, database_url: str
) -> None:
    """Found by schemathesis: the document declared no maximum, so a generated client's huge limit was valid data."""
    parameters = client.get("/openapi.json").json()["paths"]["/metadatas"]["get"]["parameters"]
    [limit] = [parameter for parameter in parameters if parameter["name"] == "limit"]
    largest = limit["schema"]["maximum"]
    [created] = seed(database_url, tenant, 1)

    assert ids(client, tenant, [("limit", str(largest))]) == [created["id"]]
    refused = client.get("/metadatas", params={"limit": str(largest + 1)}, headers=tenant.headers())
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_default_and_maximum_limit_are_configurable(settings: Settings, tenant: TenantKeys, database_url: str) -> None:
    created = seed(database_url, tenant, 8)
    configured = settings.model_copy(update={"metadatas_default_limit": 3, "metadatas_max_limit": 5})
    with TestClient(create_app(configured)) as client:
        assert ids(client, tenant) == [item["id"] for item in created[:3]]
        assert ids(client, tenant, [("limit", "7")]) == [item["id"] for item in created[:5]]


def test_total_count_counts_the_filtered_result_not_the_page(
    client: Client, tenant: TenantKeys, database_url: str
) -> None:
    seed(database_url, tenant, 3, prefix="other", type="other")
    add_metadatas(database_url, tenant.uuid, [metadata_body(slug=f"u-{n}", type="user") for n in range(13)])

    response = get(client, tenant, [("type", "user"), ("limit", "5"), ("page", "3")])
    assert len(response.json()) == 3
    assert response.headers["x-total-count"] == "13"


# --- Link header ---------------------------------------------------------------------------------------------------


def test_link_header_has_first_prev_next_last_and_keeps_the_other_parameters(
    client: Client, tenant: TenantKeys, database_url: str
) -> None:
    seed(database_url, tenant, 25, type="user")
    seed(database_url, tenant, 1, prefix="other", type="other")
    params = [
        ("type[]", "user"),
        ("type[]", "none"),
        ("order[slug]", "desc"),
        ("createdAt[after]", "2000-01-01T00:00:00+00:00"),
        ("limit", "10"),
        ("page", "2"),
    ]
    response = get(client, tenant, params)

    found = links(response)
    assert set(found) == {"first", "prev", "next", "last"}
    assert {rel: page_of(query) for rel, query in found.items()} == {"first": 1, "prev": 1, "next": 3, "last": 3}
    others = [pair for pair in params if pair[0] != "page"]
    for query in found.values():
        assert [pair for pair in query if pair[0] != "page"] == others


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("1", {"first": 1, "next": 2, "last": 3}),
        ("2", {"first": 1, "prev": 1, "next": 3, "last": 3}),
        ("3", {"first": 1, "prev": 2, "last": 3}),
        ("7", {"first": 1, "prev": 3, "last": 3}),  # past the end: prev leads back to the last page
    ],
)
def test_link_header_relations_at_each_position(
    client: Client, tenant: TenantKeys, database_url: str, page: str, expected: dict[str, int]
) -> None:
    seed(database_url, tenant, 21)
    response = get(client, tenant, [("page", page)])
    assert {rel: page_of(query) for rel, query in links(response).items()} == expected


def test_following_next_links_visits_every_resource_once(client: Client, tenant: TenantKeys, database_url: str) -> None:
    created = seed(database_url, tenant, 23)
    seen: list[int] = []
    params: Params | None = [("limit", "4"), ("order[owner]", "asc")]
    while params is not None:
        response = get(client, tenant, params)
        seen += [item["id"] for item in response.json()]
        params = links(response).get("next")
    assert seen == [item["id"] for item in created]


# --- order ---------------------------------------------------------------------------------------------------------

# Each property gets a different permutation, so ordering by one cannot pass by accident of another (or of id).
ORDER_VALUES: dict[str, list[Any]] = {
    "owner": ["bravo", "charlie", "alpha", "delta"],
    "title": ["Delta", "alpha", "Charlie", "bravo"],  # case-insensitive order: alpha, bravo, Charlie, Delta
    "type": ["charlie", "alpha", "delta", "bravo"],
    "slug": ["alpha", "delta", "bravo", "charlie"],
    "createdAt": [BASE + dt.timedelta(hours=h) for h in (2, 4, 1, 3)],
    "updatedAt": [BASE + dt.timedelta(hours=h) for h in (3, 1, 4, 2)],
}
SORT_KEYS: dict[str, Callable[[Resource], Any]] = {
    "id": lambda item: item["id"],
    "owner": lambda item: item["owner"],
    "title": lambda item: item["title"]["en"].casefold(),
    "type": lambda item: item["type"],
    "slug": lambda item: item["slug"],
    "createdAt": lambda item: item["createdAt"],
    "updatedAt": lambda item: item["updatedAt"],
}


@pytest.fixture
def ordered(database_url: str, tenant: TenantKeys) -> list[Resource]:
    bodies = [
        metadata_body(
            owner=ORDER_VALUES["owner"][n],
            title={"en": ORDER_VALUES["title"][n]},
            type=ORDER_VALUES["type"][n],
            slug=ORDER_VALUES["slug"][n],
        )
        for n in range(4)
    ]
    created = add_metadatas(database_url, tenant.uuid, bodies)
    for n, item in enumerate(created):
        set_timestamps(database_url, item["uuid"], ORDER_VALUES["createdAt"][n], ORDER_VALUES["updatedAt"][n])
    return created


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("field", ["id", "createdAt", "updatedAt", "owner", "title", "type", "slug"])
def test_order_by_each_property(
    client: Client, tenant: TenantKeys, ordered: list[Resource], field: str, direction: str
) -> None:
    items = get(client, tenant, [(f"order[{field}]", direction)]).json()
    expected = sorted(items, key=SORT_KEYS[field], reverse=direction == "desc")
    assert [item["id"] for item in items] == [item["id"] for item in expected]
    assert len(items) == 4
    if field != "id":
        assert [item["id"] for item in items] not in ([r["id"] for r in ordered], [r["id"] for r in ordered[::-1]])


@pytest.fixture
def grid(database_url: str, tenant: TenantKeys) -> list[int]:
    """owner/type pairs (a,y) (b,x) (a,x) (b,y) (a,y): every sort has ties somewhere."""
    pairs = [("a", "y"), ("b", "x"), ("a", "x"), ("b", "y"), ("a", "y")]
    bodies = [metadata_body(slug=f"g{n}", owner=owner, type=kind) for n, (owner, kind) in enumerate(pairs)]
    return [item["id"] for item in add_metadatas(database_url, tenant.uuid, bodies)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("order[owner]", "asc"), ("order[type]", "desc")], [0, 4, 2, 3, 1]),
        ([("order[type]", "desc"), ("order[owner]", "asc")], [0, 4, 3, 2, 1]),
        ([("order[owner]", "desc"), ("order[type]", "asc")], [1, 3, 2, 0, 4]),
        ([("order[type]", "asc"), ("order[owner]", "desc")], [1, 2, 3, 0, 4]),
        # ties broken by id, ascending, whatever the direction of the orders given
        ([("order[owner]", "asc")], [0, 2, 4, 1, 3]),
        ([("order[owner]", "desc")], [1, 3, 0, 2, 4]),
        ([("order[owner]", "asc"), ("order[type]", "asc")], [2, 0, 4, 1, 3]),
        # an explicit id order is obeyed rather than overridden by the tie-break
        ([("order[owner]", "asc"), ("order[id]", "desc")], [4, 2, 0, 3, 1]),
    ],
)
def test_several_orders_apply_in_the_order_given_then_by_id(
    client: Client, tenant: TenantKeys, grid: list[int], params: Params, expected: list[int]
) -> None:
    assert ids(client, tenant, params) == [grid[n] for n in expected]


def test_tied_order_pages_deterministically(client: Client, tenant: TenantKeys, database_url: str) -> None:
    created = seed(database_url, tenant, 9, owner="same")
    pages = [ids(client, tenant, [("order[owner]", "desc"), ("limit", "2"), ("page", str(n))]) for n in range(1, 6)]
    assert [item for page in pages for item in page] == [item["id"] for item in created]


def test_order_combines_with_filters_and_paging(client: Client, tenant: TenantKeys, ordered: list[Resource]) -> None:
    params = [("title[]", "alpha"), ("title[]", "bravo"), ("title[]", "charlie"), ("order[slug]", "desc")]
    by_slug = sorted((r for r in ordered if r["title"]["en"].lower() != "delta"), key=SORT_KEYS["slug"], reverse=True)
    assert ids(client, tenant, [*params, ("limit", "2")]) == [r["id"] for r in by_slug[:2]]
    assert ids(client, tenant, [*params, ("limit", "2"), ("page", "2")]) == [r["id"] for r in by_slug[2:]]


# --- invalid parameters --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("id", "abc"),
        ("id", "1.5"),
        ("id", "99999999999"),
        ("id[]", "abc"),
        ("uuid", "not-a-uuid"),
        ("uuid[]", "not-a-uuid"),
        ("ownerUuid", "nope"),
        ("ownerUuid[]", "nope"),
        ("owner", "nul\x00byte"),
        ("slug[]", "nul\x00byte"),
        ("type", "\x00"),
        ("title", "nul\x00byte"),
        ("createdAt[before]", "yesterday"),
        ("createdAt[after]", "2018-13-45"),
        ("createdAt[strictly_before]", ""),
        ("createdAt[strictly_after]", "20-07-2018"),
        ("updatedAt[before]", "not a date"),
        ("updatedAt[after]", "2018-07-20T25:00:00Z"),
        ("updatedAt[strictly_before]", "x"),
        ("updatedAt[strictly_after]", "9999-12-31T23:59:59-05:00"),  # past year 9999 in UTC
        ("createdAt[since]", "2018-07-20"),
        ("page", "0"),
        ("page", "-1"),
        ("page", "two"),
        ("page", "99999999999"),
        ("limit", "0"),
        ("limit", "-5"),
        ("limit", "ten"),
        ("order[id]", "up"),
        ("order[title]", ""),
        ("order[unknown]", "asc"),
        ("order[data]", "asc"),
        ("order[tenant]", "asc"),
    ],
)
def test_invalid_value_of_a_known_parameter_is_400_naming_it(
    client: Client, tenant: TenantKeys, trio: list[Resource], name: str, value: str
) -> None:
    response = client.get("/metadatas", params=[(name, value)], headers=tenant.headers())
    assert violation_paths(response) == {name}


def test_every_invalid_parameter_is_reported(client: Client, tenant: TenantKeys) -> None:
    params = [("id", "x"), ("page", "0"), ("order[foo]", "asc"), ("createdAt[before]", "x"), ("limit", "y")]
    response = client.get("/metadatas", params=tuple(params), headers=tenant.headers())
    assert violation_paths(response) == {"id", "page", "order[foo]", "createdAt[before]", "limit"}
