"""A create form sent several times at the same moment (a double click that beat console.js, a re-sent request, two
tabs) against a real server with two workers: exactly one copy creates, every other is answered as a re-sent form."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from tests.console.helpers import csrf_of
from tests.console.test_console_findings import _once_of
from tests.reliability.servers import server_env, serving

COPIES = 8  # identical POSTs in flight together


async def _logged_in(client: httpx.AsyncClient, password: str) -> None:
    token = csrf_of((await client.get("/console/login")).text)
    response = await client.post(
        "/console/login",
        data={"email": "admin@localhost", "password": password, "csrf_token": token},
        follow_redirects=True,
    )
    assert response.status_code == 200, response.text


async def _send_together(client: httpx.AsyncClient, path: str, fields: dict[str, str]) -> list[httpx.Response]:
    page = (await client.get(path)).text
    form = {"csrf_token": csrf_of(page), "once": _once_of(page), **fields}
    return list(await asyncio.gather(*(client.post(path, data=form) for _ in range(COPIES))))


def test_identical_create_forms_sent_at_once_create_exactly_one_key_and_one_user(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with serving(server_env(database_url, tmp_path), log, "--workers", "2") as server:
        password = next(
            line.split("Password: ", 1)[1].strip() for line in log.read_text().splitlines() if "Password: " in line
        )

        async def scenario() -> tuple[list[httpx.Response], list[httpx.Response], str, str]:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
                await _logged_in(client, password)
                keys = await _send_together(client, "/console/admin/keys", {"name": "raced key", "role": "writer"})
                user = {"email": "raced@example.test", "password": "a long enough password", "role": "reader"}
                users = await _send_together(client, "/console/admin/users", user)
                key_list = (await client.get("/console/admin/keys")).text
                user_list = (await client.get("/console/admin/users")).text
                return keys, users, key_list, user_list

        keys, users, key_list, user_list = asyncio.run(scenario())

    assert Counter(response.status_code for response in keys) == {201: 1, 303: COPIES - 1}
    assert {response.headers["location"] for response in keys if response.status_code == 303} == {
        "/console/admin/keys?resent=1"
    }
    assert key_list.count('<th scope="row">raced key</th>') == 1
    # A user's email is unique: a copy that lost the race may have collided on it, and is still told "re-sent"
    # rather than "the email has already been taken".
    assert Counter(response.headers.get("location") for response in users) == {
        "/console/admin/users": 1,
        "/console/admin/users?resent=1": COPIES - 1,
    }
    assert user_list.count('<th scope="row">raced@example.test') == 1
