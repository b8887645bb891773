"""Statements run again are served from a plan (SQLite's driver, asyncpg's prepared statements): what comes back is
exactly what SQLAlchemy's own path gives, whichever path ran, for statements built once and for statements built
per request; the plans are bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import sqlalchemy.exc
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, func, select, update

from metadock.kit.db import Connection, Database
from metadock.metadatas.table import metadatas
from metadock.tenants.table import tenants
from tests.factories import add_metadatas, create_tenant, metadata_body

T = TypeVar("T")

# Built once, as repositories build their hot statements.
BY_UUID = select(metadatas).where(metadatas.c.uuid == bindparam("uuid"))
WITH_A_BOUND_VALUE = select(metadatas.c.uuid, metadatas.c.created_at.label("made")).where(
    metadatas.c.version == 1, metadatas.c.uuid == bindparam("uuid")
)
# Two columns named "id": SQLAlchemy names the second "id_1" in its rows; a plan must too.
SAME_NAMES = (
    select(metadatas.c.id, tenants.c.id, tenants.c.uuid).join(tenants).where(metadatas.c.uuid == bindparam("uuid"))
)
# Labels a plan's row function must keep as they are: quotes, a backslash, braces, a newline.
ODD_LABELS = select(metadatas.c.uuid.label('it\'s "quoted"'), metadatas.c.created_at.label("back\\slash {x}\n")).where(
    metadatas.c.uuid == bindparam("uuid")
)
SLUGS = select(metadatas.c.slug).order_by(metadatas.c.slug)
COUNT = select(func.count()).select_from(metadatas)
TOUCH = update(metadatas).where(metadatas.c.uuid == bindparam("u")).values(version=metadatas.c.version)
MISSING = "00000000-0000-4000-8000-000000000000"


def run(database_url: str, work: Callable[[Connection, Database], Awaitable[T]], plan_cache_size: int = 256) -> T:
    async def main() -> T:
        database = Database(database_url, pool_size=1, plan_cache_size=plan_cache_size)
        try:
            async with database.transaction() as connection:
                return await work(connection, database)
        finally:
            await database.dispose()

    return asyncio.run(main())


def planned(database: Database) -> int:
    return len(database.plans)


def three_runs(database_url: str, statement: Any, parameters: dict[str, Any]) -> tuple[list[Any], Any, int]:
    """``fetch_one`` three times (the first takes SQLAlchemy's path, later ones a plan), SQLAlchemy's own
    answer, and how many plans there were at the end."""

    async def work(connection: Connection, database: Database) -> tuple[list[Any], Any, int]:
        answers = [await connection.fetch_one(statement, parameters) for _ in range(3)]
        ordinary = (await connection.execute(statement, parameters)).mappings().first()
        return answers, None if ordinary is None else dict(ordinary), planned(database)

    return run(database_url, work)


def test_a_row_comes_back_with_the_same_keys_and_python_values(database_url: str) -> None:
    tenant = create_tenant(database_url, "prepared")
    body = metadata_body(title={"en": "Ünïcode", "fr": "titre"}, data={"nested": [1, {"x": None}], "n": 1.5})
    [created] = add_metadatas(database_url, tenant.uuid, [body])

    answers, ordinary, plans = three_runs(database_url, BY_UUID, {"uuid": created["uuid"]})

    assert [dict(answer) for answer in answers if answer is not None] == [ordinary] * 3
    assert ordinary["data"] == {"nested": [1, {"x": None}], "n": 1.5}  # JSON decoded, not a string
    assert ordinary["title"] == {"en": "Ünïcode", "fr": "titre"}
    assert isinstance(answers[2]["created_at"], dt.datetime)  # type: ignore[index]
    assert answers[2]["created_at"].tzinfo == dt.UTC  # type: ignore[index]  # the UTC type's processing ran
    assert plans == 1  # the later runs did take a plan


@pytest.mark.parametrize(
    "statement",
    [WITH_A_BOUND_VALUE, SAME_NAMES, ODD_LABELS],
    ids=["bound-value-and-label", "same-names", "odd-labels"],
)
def test_values_bound_inside_the_statement_labels_and_repeated_names_are_kept(
    database_url: str, statement: Any
) -> None:
    tenant = create_tenant(database_url, "prepared-labels")
    [created] = add_metadatas(database_url, tenant.uuid, [metadata_body()])

    answers, ordinary, _ = three_runs(database_url, statement, {"uuid": created["uuid"]})

    assert [dict(answer) for answer in answers if answer is not None] == [ordinary] * 3
    assert set(ordinary) in ({"uuid", "made"}, {"id", "id_1", "uuid"}, {'it\'s "quoted"', "back\\slash {x}\n"})


def test_no_row_is_none(database_url: str) -> None:
    answers, ordinary, _ = three_runs(database_url, BY_UUID, {"uuid": MISSING})
    assert answers == [None, None, None]
    assert ordinary is None


def test_every_kind_of_call_answers_the_same_on_every_run(database_url: str) -> None:
    tenant = create_tenant(database_url, "prepared-calls")
    created = add_metadatas(database_url, tenant.uuid, [metadata_body(slug=f"slug-{n}") for n in range(3)])

    async def work(connection: Connection, _database: Database) -> list[Any]:
        return [
            (
                [dict(row) for row in await connection.fetch_all(SLUGS)],
                await connection.scalars(SLUGS),
                await connection.scalar(COUNT),
                await connection.write(TOUCH, {"u": created[0]["uuid"]}),
                await connection.write(TOUCH, {"u": MISSING}),
            )
            for _ in range(3)
        ]

    runs = run(database_url, work)

    slugs = ["slug-0", "slug-1", "slug-2"]
    assert runs == [([{"slug": slug} for slug in slugs], slugs, 3, 1, 0)] * 3


def test_a_driver_error_surfaces_as_sqlalchemys_error(database_url: str) -> None:
    missing = Table("no_such_table", MetaData(), Column("id", Integer))
    broken = select(missing).where(missing.c.id == bindparam("id"))

    async def main() -> list[str]:
        database = Database(database_url, pool_size=1)
        errors = []
        try:
            for _ in range(3):  # a transaction each: PostgreSQL's ends at its first error
                try:
                    async with database.transaction() as connection:
                        await connection.fetch_one(broken, {"id": 1})
                except sqlalchemy.exc.DBAPIError as error:  # what error handling upstream expects, whichever path
                    errors.append(type(error).__name__)
        finally:
            await database.dispose()
        return errors

    errors = asyncio.run(main())

    assert errors == [errors[0]] * 3
    assert errors[0] in {"OperationalError", "ProgrammingError"}


def test_statements_built_per_request_read_their_own_values_while_plans_come_and_go(database_url: str) -> None:
    tenant = create_tenant(database_url, "prepared-per-request")
    created = add_metadatas(database_url, tenant.uuid, [metadata_body(slug=f"slug-{n}") for n in range(12)])

    async def work(connection: Connection, database: Database) -> tuple[list[list[str]], int]:
        answers = []
        for _ in range(3):
            for record in created:
                # A new statement each time with its value inlined, as a request builds one; the last one is gone,
                # so its id() may well be this one's.
                statement = select(metadatas.c.slug).where(metadatas.c.uuid == record["uuid"])
                answers.append([await connection.scalar(statement) for _ in range(3)])
        return answers, planned(database)

    answers, plans = run(database_url, work, plan_cache_size=4)

    assert answers == [[record["slug"]] * 3 for record in created] * 3
    assert plans <= 4  # 36 statements planned, 4 plans kept


def test_plans_are_bounded_and_a_statement_whose_plan_went_still_answers(database_url: str) -> None:
    tenant = create_tenant(database_url, "prepared-bounded")
    [created] = add_metadatas(database_url, tenant.uuid, [metadata_body(slug="kept")])
    # Nine statements kept alive, each with its own value inlined (``version < n``: the record's 1 is below 2 to 8).
    kept = [
        select(metadatas.c.slug).where(metadatas.c.uuid == bindparam("u"), metadatas.c.version < n) for n in range(9)
    ]
    parameters = {"u": created["uuid"]}

    async def work(connection: Connection, database: Database) -> tuple[list[int], list[Any]]:
        sizes = []
        for statement in kept:
            for _ in range(2):  # planned on its second run
                await connection.scalar(statement, parameters)
                sizes.append(planned(database))
        again = [await connection.scalar(statement, parameters) for statement in kept]  # the first plans went
        return sizes, again

    sizes, again = run(database_url, work, plan_cache_size=4)

    assert sizes == [0, 1, 1, 2, 2, 3, 3, 4] + [4] * 10
    assert again == [None, None] + ["kept"] * 7
