"""Hypothesis properties of both query languages, against one seeded database per dialect (SQLite, PostgreSQL):

- any query string gives 200 or the dialect's client error, never a 5xx;
- walking every page of a filtered, ordered list gives each row once, and exactly the rows a Python-side filter of
  the seeded data selects;
- the order is total: the walk equals one big page, asking twice gives the same order, and rows with equal sort
  keys come in ascending id.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from metadock.app import create_app
from metadock.metadatas import query as metadatas_query
from metadock.payloads import query as payloads_query
from metadock.settings import Settings
from tests.conftest import _empty_postgres
from tests.factories import (
    PAYLOADS,
    TenantKeys,
    add_metadatas,
    add_payload_records,
    create_tenant,
    laravel_error,
    metadata_body,
    problem,
    set_timestamps,
)

Client = TestClient[object]
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
# Plain lowercase ASCII, so every collation (SQLite's binary, PostgreSQL's locale) orders them as Python does.
TYPES = ("alpha", "beta", "gamma")
OWNERS = ("ann", "bob")
WORDS = ("Apple", "apricot", "Berry", "cherry")
BASE_TIME = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass
class Seeded:
    client: Client
    tenant: TenantKeys
    metadatas: list[dict[str, Any]]
    payloads: list[dict[str, Any]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp("properties")
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, root / "metadock.db")
        url = f"sqlite:///{root / 'metadock.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        _empty_postgres(url)
    tenant, other = create_tenant(url, "acme"), create_tenant(url, "globex")
    bodies = [
        metadata_body(
            slug=f"s{index:02d}",
            type=TYPES[index % 3],
            owner=OWNERS[index % 2],
            title={"en": f"{WORDS[index % 4]} {index}"},
        )
        for index in range(36)
    ]
    rows = add_metadatas(url, tenant.uuid, bodies)
    add_metadatas(url, other.uuid, bodies[:5])  # never visible to ``tenant``
    for index, row in enumerate(rows):
        # Some rows share a timestamp, so that ties must be broken by id.
        moment = BASE_TIME + dt.timedelta(hours=index // 4)
        set_timestamps(url, row["uuid"], moment, moment + dt.timedelta(minutes=index % 5))
    payloads: list[dict[str, Any]] = []
    for batch in range(4):  # each batch shares one created_at
        specs = [
            {"flow_run_id": i % 4 + 1, "flow_step_id": i % 3 + 1, "flow_log_id": None if i % 5 == 0 else i % 2}
            for i in range(batch * 9, batch * 9 + 9)
        ]
        payloads += add_payload_records(url, tenant.uuid, specs)
    add_payload_records(url, other.uuid, [{"flow_run_id": 1, "flow_step_id": 1}])
    app_settings = Settings(database_url=url, store_url=f"file://{root / 'payloads'}", data_dir=root)
    with TestClient(create_app(app_settings)) as client:  # type: ignore[arg-type]
        listed = client.get("/metadatas", params={"limit": 100}, headers=tenant.headers("reader")).json()
        yield Seeded(client, tenant, listed, payloads)


def _python_order(rows: list[dict[str, Any]], order: list[tuple[str, bool]], key_of: Callable[..., Any]) -> list[Any]:
    """``rows`` sorted as the API promises: by each (field, descending) in turn, then by ascending id."""
    result = sorted(rows, key=lambda row: row["id"])
    for field, descending in reversed(order):
        result.sort(key=lambda row: key_of(row, field), reverse=descending)  # stable: earlier keys win
    return [row["id"] for row in result]


# --- never a 500 -------------------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


def _names(documented: list[tuple[str, str, str]]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([name for name, _kind, _d in documented]), _TEXT)


def _values() -> st.SearchStrategy[str]:
    hostile = st.sampled_from(["", " ", "-1", "0", "1e3", "2**64", "99999999999999999999", "%", "\x00", "asc", "desc"])
    return st.one_of(hostile, _TEXT, st.integers().map(str))


_RAW_QUERY = st.binary(max_size=40).map(lambda raw: urllib.parse.quote_from_bytes(raw, safe="=&[],"))


@PROPERTY_SETTINGS
@given(
    pairs=st.lists(st.tuples(_names(metadatas_query.documented_parameters()), _values()), max_size=6), raw=_RAW_QUERY
)
def test_any_metadatas_query_is_200_or_a_400_problem(seeded: Seeded, pairs: list[tuple[str, str]], raw: str) -> None:
    headers = seeded.tenant.headers("reader")
    for response in (
        seeded.client.get("/metadatas", params=pairs, headers=headers),
        seeded.client.get(f"/metadatas?{raw}", headers=headers),
    ):
        if response.status_code != 200:
            problem(response, 400)


@PROPERTY_SETTINGS
@given(pairs=st.lists(st.tuples(_names(payloads_query.documented_parameters()), _values()), max_size=6), raw=_RAW_QUERY)
def test_any_payload_query_is_200_or_a_laravel_client_error(
    seeded: Seeded, pairs: list[tuple[str, str]], raw: str
) -> None:
    headers = seeded.tenant.headers("reader")
    for response in (
        seeded.client.get(PAYLOADS, params=pairs, headers=headers),
        seeded.client.get(f"{PAYLOADS}?{raw}", headers=headers),
    ):
        if response.status_code != 200:
            assert response.status_code in (400, 422), response.text
            laravel_error(response, response.status_code)


# --- /metadatas: pages partition the filtered set, in a total order ----------------------------------------------

_ORDER_FIELDS = st.lists(
    st.tuples(st.sampled_from(["id", "createdAt", "updatedAt", "owner", "type", "slug"]), st.booleans()),
    max_size=3,
    unique_by=lambda item: item[0],
)


def _metadata_key(row: dict[str, Any], field: str) -> Any:
    return dt.datetime.fromisoformat(row[field]) if field in ("createdAt", "updatedAt") else row[field]


@PROPERTY_SETTINGS
@given(
    types=st.lists(st.sampled_from(TYPES), max_size=2, unique=True),
    owner=st.none() | st.sampled_from(OWNERS),
    title=st.none() | st.sampled_from(["ap", "APPLE", "rr", "1", "zzz"]),
    after_hours=st.none() | st.integers(0, 10),
    order=_ORDER_FIELDS,
    limit=st.integers(1, 7),
)
def test_metadatas_pages_partition_the_filtered_set_in_a_total_order(
    seeded: Seeded,
    types: list[str],
    owner: str | None,
    title: str | None,
    after_hours: int | None,
    order: list[tuple[str, bool]],
    limit: int,
) -> None:
    after = None if after_hours is None else BASE_TIME + dt.timedelta(hours=after_hours)
    params: list[tuple[str, str]] = [("type[]", value) for value in types]
    params += [("owner", owner)] if owner else []
    params += [("title", title)] if title else []
    params += [("createdAt[after]", after.isoformat())] if after else []
    params += [(f"order[{field}]", "desc" if descending else "asc") for field, descending in order]

    def selected(row: dict[str, Any]) -> bool:
        return (
            (not types or row["type"] in types)
            and (owner is None or row["owner"] == owner)
            and (title is None or title.casefold() in row["title"]["en"].casefold())
            and (after is None or dt.datetime.fromisoformat(row["createdAt"]) >= after)
        )

    expected = [row for row in seeded.metadatas if selected(row)]
    headers = seeded.tenant.headers("reader")
    first = seeded.client.get("/metadatas", params=[*params, ("limit", str(limit))], headers=headers)
    assert first.status_code == 200, first.text
    total = int(first.headers["x-total-count"])
    walked: list[int] = []
    for page in range(1, max(1, math.ceil(total / limit)) + 1):
        response = seeded.client.get(
            "/metadatas", params=[*params, ("limit", str(limit)), ("page", str(page))], headers=headers
        )
        walked += [row["id"] for row in response.json()]

    assert len(walked) == len(set(walked)) == total  # disjoint pages, nothing lost
    assert set(walked) == {row["id"] for row in expected}  # exactly the filtered set
    assert walked == _python_order(expected, order, _metadata_key)  # the promised order, ties by id
    whole = [
        row["id"] for row in seeded.client.get("/metadatas", params=[*params, ("limit", "100")], headers=headers).json()
    ]
    assert whole == walked


# --- payloads: the same promises in the spatie dialect -----------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    runs=st.lists(st.integers(0, 5), max_size=3, unique=True),
    steps=st.lists(st.integers(1, 3), max_size=2, unique=True),
    logs=st.lists(st.integers(0, 2), max_size=2, unique=True),
    sort=st.lists(
        st.tuples(st.sampled_from(["id", "created_at"]), st.booleans()), max_size=2, unique_by=lambda s: s[0]
    ),
    per_page=st.integers(1, 7),
)
def test_payload_pages_partition_the_filtered_set_in_a_total_order(
    seeded: Seeded, runs: list[int], steps: list[int], logs: list[int], sort: list[tuple[str, bool]], per_page: int
) -> None:
    params: list[tuple[str, str]] = []
    for name, values in (("flow_run_id", runs), ("flow_step_id", steps), ("flow_log_id", logs)):
        if values:
            params.append((f"filter[{name}]", ",".join(map(str, values))))
    if sort:
        params.append(("sort", ",".join(("-" if descending else "") + field for field, descending in sort)))

    def selected(row: dict[str, Any]) -> bool:
        return (
            (not runs or row["flow_run_id"] in runs)
            and (not steps or row["flow_step_id"] in steps)
            and (not logs or row["flow_log_id"] in logs)
        )

    expected = [row for row in seeded.payloads if selected(row)]
    headers = seeded.tenant.headers("reader")

    def page(number: int, size: int) -> dict[str, Any]:
        query = [*params, ("per_page", str(size)), ("page", str(number))]
        response = seeded.client.get(PAYLOADS, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = page(1, per_page)
    walked: list[int] = []
    for number in range(1, first["meta"]["last_page"] + 1):
        walked += [row["id"] for row in page(number, per_page)["data"]]

    assert len(walked) == len(set(walked)) == first["meta"]["total"]
    assert set(walked) == {row["id"] for row in expected}
    assert walked == _python_order(expected, sort, lambda row, field: row[field])
    assert [row["id"] for row in page(1, 100)["data"]] == walked
