"""The `title` filter on its trigram index (SQLite FTS5, PostgreSQL pg_trgm): the same answers as the scan, an index
that follows every write, and plans that use it for terms of three characters or more and never for shorter ones."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import make_url, text
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.sql.base import Executable

from metadock import migrate
from metadock.kit.db import Connection, Database
from metadock.metadatas.query import parse_list_query
from metadock.metadatas.repository import MAX_TRIGRAMS_PER_TERM, MetadataRepository, fts_trigram_query
from metadock.tenants.service import TenantService
from tests.factories import TenantKeys, add_metadatas, create_tenant, metadata_body, run_in_transaction
from tests.plans import StatementRecorder, plan_of

Client = TestClient[Litestar]

TITLES: list[dict[str, str]] = [
    {"en": "OAuth Providers", "fr": "Fournisseurs OAuth"},
    {"de": "Straße der Écoles", "en": "Street of schools"},
    {"el": "Ελληνικά Δεδομένα", "en": "ΣΊΣΥΦΟΣ and Greek data"},
    {"ru": "Отчёт о ПЛАТЕЖАХ", "uk": "Звіт про платежі"},
    {"ja": "東京の支払いレポート", "zh": "数据报告"},
    {"tr": "İstanbul ıspanak", "en": "Istanbul spinach"},
    {"en": "100% sure_thing", "fr": "sûr à 100 %"},
    {"en": 'He said "hello" AND NEAR(x y) OR NOT z'},
    {"en": "back\\slash * star ^caret col:on {braces} (paren) -minus +plus"},
    {"en": "emoji 🎉 party 🎉🎉 end"},
    {"en": "ǅemal ǄUNGLA ﬁle ﬂow"},  # title-case digraphs and ligatures: case folding changes lengths
    {"ko": "한국어 보고서", "ar": "تقرير البيانات"},
    {"en": "ab"},
    {"en": "x"},
    {"en": "Report 2024 – Q1", "es": "Informe año 2024"},
    {"en": "report report report"},
]

FIXED_TERMS = [
    *("%", "_", "\\", "%%", "_%_", "0% s", "e_t", "100%", "100 %"),  # LIKE's wildcards and escape, literally
    *('"', '""', 'a"b', '"hello"', 'hello" AND', '" OR "', "AND", "OR", "NOT z", "NEAR(x", "*", "^ca", "col:on"),
    *("{braces}", "(paren)", "-minus", "+plus"),  # FTS5 query syntax, literally
    *("STRASSE", "straße", "strasse der", "ÉCOLES", "écoles", "σίσυφος", "ΣΊΣΥΦΟΣ", "σισυφοσ", "ПЛАТЕЖАХ"),
    *("İSTANBUL", "i̇stanbul", "istanbul", "ISPANAK", "🎉🎉", "🎉 p", "ﬁle", "FILE", "džemal", "ǆungla"),
    *("東京", "東京の支", "レポート", "보고서", "البيانات", "año 2", "– q1", "providers\nfour", "oauth\n"),
    *("a", "ab", "AB", "x", "  ", "report", "report report", "port rep", "nothing at all", "zzz"),
]


def _folded(title: Mapping[str, str]) -> str:
    return "\n".join(title.values()).casefold()


def _terms() -> list[str]:
    """The fixed terms, and pieces of every title (1 to 7 characters, in three cases) from its start, middle and end."""
    terms = list(FIXED_TERMS)
    for title in TITLES:
        for value in title.values():
            for length in range(1, 8):
                for start in (0, max(0, len(value) // 2 - length // 2), max(0, len(value) - length)):
                    piece = value[start : start + length]
                    terms += [piece, piece.upper(), piece.lower()]
    return list(dict.fromkeys(term for term in terms if term))


def _ids(client: Client, tenant: TenantKeys, params: list[tuple[str, str]]) -> tuple[list[int], int]:
    response = client.get("/metadatas", params=params, headers=tenant.headers("reader"))
    assert response.status_code == 200, (params, response.text)
    return [row["id"] for row in response.json()], int(response.headers["x-total-count"])


@pytest.fixture(params=["few candidates: read by id", "many candidates: checked during the walk"])
def either_way_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a title alone is read from its candidates when they are few and checked while walking the tenant
    otherwise: with the bound at 0, the tests' few rows take the second way too."""
    if request.param.startswith("many"):
        monkeypatch.setattr(MetadataRepository, "few", 0)


@pytest.mark.usefixtures("either_way_in")
def test_the_index_gives_the_scans_answers_for_every_kind_of_term(
    client: Client, tenant: TenantKeys, database_url: str
) -> None:
    created = add_metadatas(
        database_url,
        tenant.uuid,
        [metadata_body(title=title, slug=f"t-{n}", type=f"kind-{n % 2}") for n, title in enumerate(TITLES)],
    )
    folded = {row["id"]: _folded(row["title"]) for row in created}
    wrong = []
    for term in _terms():
        expected = [id_ for id_, text_ in folded.items() if term.casefold() in text_]
        found, total = _ids(client, tenant, [("title", term), ("limit", "100")])
        if (found, total) != (expected, len(expected)):
            wrong.append(f"{term!r}: {found} (total {total}), expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_the_indexed_filter_combines_with_other_filters_order_and_pages(
    client: Client, tenant: TenantKeys, database_url: str
) -> None:
    created = add_metadatas(
        database_url,
        tenant.uuid,
        [
            metadata_body(title={"en": f"Quarterly Ŕeport {n}", "de": f"Bericht {n}"}, slug=f"q-{n}", type=f"k{n % 3}")
            for n in range(25)
        ]
        + [metadata_body(title={"en": "unrelated"}, slug="u", type="k0")],
    )
    by_id = {row["id"]: row for row in created}
    for title_values in (["ŕeport"], ["bericht 1", "ŕeport 2"], ["ŕeport", "ab"]):
        params = [("title[]", value) for value in title_values] + [("type", "k0"), ("order[slug]", "desc")]
        matching = [
            row
            for row in created
            if row["type"] == "k0" and any(value.casefold() in _folded(row["title"]) for value in title_values)
        ]
        expected = [row["id"] for row in sorted(matching, key=lambda row: row["slug"], reverse=True)]
        seen: list[int] = []
        for page in (1, 2, 3, 4):
            found, total = _ids(client, tenant, [*params, ("limit", "3"), ("page", str(page))])
            assert total == len(expected), title_values
            seen += found
        assert seen == expected, (title_values, [by_id[id_]["slug"] for id_ in seen])


def test_the_index_follows_inserts_renames_and_deletes(
    client: Client, tenant: TenantKeys, other_tenant: TenantKeys, database_url: str
) -> None:
    def search(term: str, who: TenantKeys = tenant) -> list[int]:
        return _ids(client, who, [("title", term)])[0]

    created = client.post(
        "/metadatas", json=metadata_body(title={"en": "Alpha Centauri", "fr": "Proxima"}), headers=tenant.headers()
    )
    assert created.status_code == 201, created.text
    resource = created.json()
    assert search("centauri") == [resource["id"]]
    assert search("centauri", other_tenant) == []
    _index_is_consistent(database_url)

    body = {**metadata_body(title={"en": "Beta Pictoris"}), "version": resource["version"]}
    renamed = client.put(f"/metadatas/{resource['uuid']}", json=body, headers=tenant.headers())
    assert renamed.status_code == 200, renamed.text
    assert search("pictoris") == [resource["id"]]
    assert search("centauri") == []
    assert search("proxima") == []
    assert _index_candidates(database_url, "centauri") == []  # the index itself forgot the old text
    _index_is_consistent(database_url)

    assert client.delete(f"/metadatas/{resource['uuid']}", headers=tenant.headers()).status_code == 204
    assert search("pictoris") == []
    assert _index_candidates(database_url, "pictoris") == []
    _index_is_consistent(database_url)


def _index_candidates(database_url: str, term: str) -> list[int]:
    """The ids SQLite's index itself finds for ``term`` (the LIKEs on top would hide a stale entry); PostgreSQL keeps
    its own index, so there is nothing to ask it."""
    if not database_url.startswith("sqlite"):
        return []

    async def work(connection: Connection) -> list[int]:
        statement = text("SELECT rowid FROM metadatas_title_fts WHERE metadatas_title_fts MATCH :q")
        return [row[0] for row in await connection.execute(statement, {"q": fts_trigram_query([term])})]

    return run_in_transaction(database_url, work)


def _index_is_consistent(database_url: str) -> None:
    """FTS5's own check that the index holds exactly the trigrams of the rows' current text (an error otherwise)."""
    if database_url.startswith("sqlite"):
        statement = text("INSERT INTO metadatas_title_fts(metadatas_title_fts, rank) VALUES ('integrity-check', 1)")

        async def work(connection: Connection) -> None:
            await connection.execute(statement)

        run_in_transaction(database_url, work)


# --- plans ---------------------------------------------------------------------------------------------------------


def _plan_of_title_search(database_url: str, tenant: TenantKeys, term: str) -> str:
    """The database's plan for the page statement the repository runs for ``?title=<term>``, with its values. On
    PostgreSQL the generic plan of the prepared statement, as asyncpg prepares it: the plan that serves every value
    once PostgreSQL settles on it, so a short term must not find the trigram index in it either."""

    async def work(connection: Connection) -> tuple[Executable, dict[str, Any]]:
        tenant_id = (await TenantService(connection).get_tenant(tenant.uuid)).id
        recorder = StatementRecorder(connection)
        query = parse_list_query([("title", term)], default_limit=10, max_limit=100)
        await MetadataRepository(recorder, tenant_id).list_page(query)
        # The page: the first statement bound to an offset (a candidate count on SQLite may come before it).
        return next((statement, values) for statement, values in recorder.statements if "page_offset" in values)

    statement, parameters = run_in_transaction(database_url, work)
    # VACUUM: what autovacuum would do in time: table statistics, and the GIN index's own (its cost estimate reads them
    # from its metapage, which only VACUUM refreshes; until then the index looks as empty as when it was created).
    # enable_seqscan: a table this small is read whole faster than through any index; without that choice the planner
    # shows which index it can use: the trigram index for a long term, and never for a short one.
    return plan_of(
        database_url, statement, parameters, pg_setup=("VACUUM ANALYZE metadatas", "SET enable_seqscan = off")
    )


@pytest.fixture
def many_titles(database_url: str, tenant: TenantKeys) -> None:
    """Enough rows that reading the tenant through another index costs more than the trigram index (PostgreSQL plans
    by cost)."""
    bodies = [metadata_body(title={"en": f"Catalogue entry {n:04d}"}, slug=f"c-{n}") for n in range(600)]
    add_metadatas(database_url, tenant.uuid, [*bodies, metadata_body(title={"en": "Alpha Centauri"}, slug="a")])


@pytest.mark.usefixtures("many_titles")
def test_a_term_of_three_characters_or_more_is_looked_up_in_the_index(database_url: str, tenant: TenantKeys) -> None:
    for term in ("centauri", "CEN", "tauri"):
        plan = _plan_of_title_search(database_url, tenant, term)
        if database_url.startswith("sqlite"):
            assert "SCAN metadatas_title_fts VIRTUAL TABLE INDEX 0:M" in plan, plan  # a MATCH, not a full read
        else:
            assert "ix_metadatas_title_trgm" in plan, plan


@pytest.mark.usefixtures("many_titles")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL chooses between indexes by cost
def test_on_sqlite_few_candidates_are_read_by_id_and_many_are_checked_during_the_walk(
    database_url: str, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    few = _plan_of_title_search(database_url, tenant, "centauri")
    assert "SEARCH metadatas USING INTEGER PRIMARY KEY (rowid=?)" in few, few
    assert "USING INDEX ix_metadatas_tenant" not in few, few
    monkeypatch.setattr(MetadataRepository, "few", 0)
    many = _plan_of_title_search(database_url, tenant, "centauri")
    assert "USING INDEX ix_metadatas_tenant" in many, many
    assert "SCAN metadatas_title_fts VIRTUAL TABLE INDEX 0:M" in many, many


@pytest.mark.usefixtures("many_titles")
def test_a_term_under_three_characters_is_matched_by_the_scan(database_url: str, tenant: TenantKeys) -> None:
    for term in ("ce", "C", "%_"):
        plan = _plan_of_title_search(database_url, tenant, term)
        assert "metadatas_title_fts" not in plan, plan
        assert "ix_metadatas_title_trgm" not in plan, plan


def test_the_fts_query_quotes_every_character_of_a_term() -> None:
    assert fts_trigram_query(['a"bc']) == '("a""b" AND """bc")'
    assert fts_trigram_query(["abcabc", "xyz"]) == '("abc" AND "bca" AND "cab") OR ("xyz")'
    long_term = "".join(chr(0x4E00 + n) for n in range(100))
    assert fts_trigram_query([long_term]).count(" AND ") == MAX_TRIGRAMS_PER_TERM - 1
    assert fts_trigram_query([long_term]).startswith('("' + long_term[:3] + '"')
    assert fts_trigram_query([long_term]).endswith('"' + long_term[-3:] + '")')


def test_rows_written_before_the_migration_are_found_through_the_index(tmp_path: Path) -> None:
    """SQLite's index is filled from the rows that exist when migration 0008 runs (PostgreSQL builds its index from the
    table by itself)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    title = msgspec.json.encode({"en": "Old Comet", "de": "Alte Komet"}).decode()

    def old_rows(connection: SyncConnection) -> None:
        connection.exec_driver_sql("INSERT INTO tenants VALUES (1, 'u', 'old', '2026-01-01 00:00:00.000000')")
        connection.exec_driver_sql(
            "INSERT INTO metadatas (tenant_id, uuid, owner, title, title_search, slug, type, data, version, "
            "created_at, updated_at) VALUES (1, 'm', 'o', ?, 'old comet\nalte komet', 's', 't', '[]', 1, "
            "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')",
            (title,),
        )

    async def run() -> tuple[list[int], list[int]]:
        database = Database(url, pool_size=1)
        try:
            await migrate.upgrade(database, "0007")
            await database.run_sync(old_rows)
            await migrate.upgrade(database)
            async with database.transaction() as connection:
                query = parse_list_query([("title", "komet")], default_limit=10, max_limit=100)
                rows, _total = await MetadataRepository(connection, 1).list_page(query)
                candidates = await connection.execute(
                    text("SELECT rowid FROM metadatas_title_fts WHERE metadatas_title_fts MATCH :q"),
                    {"q": fts_trigram_query(["komet"])},
                )
                return [row["id"] for row in rows], [row[0] for row in candidates]
        finally:
            await database.dispose()

    assert asyncio.run(run()) == ([1], [1])


def test_without_the_right_to_create_pg_trgm_the_migration_warns_and_the_filter_scans(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A role that may create tables but not extensions: the upgrade still completes, says what to run, leaves no
    index, and the title filter gives the same answers by scanning."""
    suffix = uuid.uuid4().hex[:8]
    role, name = f"metadock_plain_{suffix}", f"metadock_plain_{suffix}"

    async def admin(*statements: str, database: str | None = None) -> None:
        connection = await asyncpg.connect(postgres_url if database is None else _on_database(postgres_url, database))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f"CREATE ROLE {role} LOGIN", f"CREATE DATABASE {name}"))
    try:
        asyncio.run(admin(f"GRANT CREATE ON SCHEMA public TO {role}", database=name))
        url = _on_database(postgres_url, name, user=role)
        with caplog.at_level(logging.WARNING):
            asyncio.run(_upgrade(url))
        assert any("pg_trgm could not be created" in record.getMessage() for record in caplog.records)
        tenant = create_tenant(url, "plain")
        created = add_metadatas(url, tenant.uuid, [metadata_body(title={"en": "Alpha Centauri"}, slug="a")])

        async def indexes_and_search(connection: Connection) -> tuple[list[str], list[int]]:
            names = await connection.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'metadatas'"))
            tenant_id = (await TenantService(connection).get_tenant(tenant.uuid)).id
            query = parse_list_query([("title", "CENTAURI")], default_limit=10, max_limit=100)
            rows, _total = await MetadataRepository(connection, tenant_id).list_page(query)
            return [row[0] for row in names], [row["id"] for row in rows]

        names, found = run_in_transaction(url, indexes_and_search)
        assert "ix_metadatas_title_trgm" not in names
        assert found == [created[0]["id"]]
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"DROP ROLE IF EXISTS {role}"))


def _on_database(url: str, database: str, user: str | None = None) -> str:
    target = make_url(url).set(database=database)
    return (target.set(username=user) if user else target).render_as_string(hide_password=False)


async def _upgrade(url: str) -> None:
    database = Database(url, pool_size=1)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()
