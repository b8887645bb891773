"""Steady mixed load through the load balancer, every request's outcome kept, every acknowledged write remembered.

Workers loop until told to stop: captures (unique bytes, each downloaded back at once), versioned PUTs of a document
of the worker's own, lists of both APIs, and logins. Every request is streamed, so that a response cut off mid-body
still tells which node it was on (HAProxy's ``X-Metadock-Node``).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.factories import LOGIN, PAYLOADS, USER_PASSWORD, metadata_body

NODE_HEADER = "X-Metadock-Node"
PAUSE = 0.02  # between one worker's requests: steady load, not a saturated machine


@dataclass(frozen=True)
class Outcome:
    kind: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no complete response (a transport error)
    node: str | None  # from the response; for a request that got none, HAProxy's log line tells (by request_id)
    request_id: str
    error: str | None = None
    body: bytes = b""  # a failure's body (what the client was told)

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500


@dataclass
class Load:
    client: httpx.AsyncClient  # through the load balancer, with an admin key
    login_email: str
    outcomes: list[Outcome] = field(default_factory=list)
    captures: dict[str, bytes] = field(default_factory=dict)  # acknowledged (201): id -> bytes
    documents: dict[str, tuple[int, Any]] = field(default_factory=dict)  # uuid -> last acknowledged (version, data)
    # PUTs whose outcome is unknown (no answer, or a 5xx): uuid -> every (version it would make, data)
    in_doubt: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    async def request(self, kind: str, method: str, url: str, **options: Any) -> tuple[int | None, bytes]:
        started, node, status = time.monotonic(), None, None
        request_id = f"load-{next(self.ids)}-{secrets.token_hex(4)}"
        try:
            headers = {"X-Request-ID": request_id}
            async with self.client.stream(method, url, headers=headers, **options) as response:
                node = response.headers.get(NODE_HEADER)
                body = await response.aread()
                status = response.status_code
        except httpx.TransportError as error:
            self.outcomes.append(Outcome(kind, started, time.monotonic(), None, node, request_id, repr(error)))
            return None, b""
        kept = body[:2000] if status >= 500 else b""
        self.outcomes.append(Outcome(kind, started, time.monotonic(), status, node, request_id, body=kept))
        return status, body

    async def _capture(self, worker: int) -> None:
        while not self.stop.is_set():
            data = b'{"capture": "' + secrets.token_hex(16 + worker).encode() + b'"}'
            params = {"flow_run_id": 100 + worker, "flow_step_id": 1}
            status, body = await self.request("capture", "POST", PAYLOADS, params=params, content=data)
            if status == 201:
                record = httpx.Response(201, content=body).json()["data"]
                self.captures[str(record["id"])] = data
                await self.request("download", "GET", f"{PAYLOADS}/{record['id']}/download")
            await asyncio.sleep(PAUSE)

    async def _current(self, uuid: str) -> int:
        while True:  # until some node answers: the outcome of a failed PUT is unknown, the document tells
            status, body = await self.request("read", "GET", f"/metadatas/{uuid}")
            if status == 200:
                version: int = httpx.Response(200, content=body).json()["version"]
                return version
            await asyncio.sleep(PAUSE)

    async def _versioned_writes(self, uuid: str, worker: int) -> None:
        version, turn = await self._current(uuid), 0
        while not self.stop.is_set():
            turn += 1
            data = {"worker": worker, "turn": turn}
            body = {"data": data, "version": version}
            status, answer = await self.request("put", "PUT", f"/metadatas/{uuid}", json=body)
            if status == 200:
                version = httpx.Response(200, content=answer).json()["version"]
                self.documents[uuid] = (version, data)
            else:
                if status is None or status >= 500:
                    self.in_doubt.setdefault(uuid, []).append((version + 1, data))
                version = await self._current(uuid)
            await asyncio.sleep(PAUSE)

    async def _lists(self) -> None:
        while not self.stop.is_set():
            await self.request("list", "GET", PAYLOADS, params={"per_page": 20})
            await self.request("list", "GET", "/metadatas", params={"limit": 20})
            await asyncio.sleep(PAUSE)

    async def _logins(self) -> None:
        while not self.stop.is_set():
            await self.request("login", "POST", LOGIN, json={"username": self.login_email, "password": USER_PASSWORD})
            await asyncio.sleep(0.2)  # a login costs a password hash: a few a second

    async def run(self, documents: list[str]) -> None:
        """Until ``stop`` is set: two capture workers, one writer per document, two listers, one login loop."""
        workers = [self._capture(0), self._capture(1), self._lists(), self._lists(), self._logins()]
        workers += [self._versioned_writes(uuid, n) for n, uuid in enumerate(documents)]
        await asyncio.gather(*workers)

    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.failed]


async def create_documents(client: httpx.AsyncClient, count: int) -> list[str]:
    uuids = []
    for n in range(count):
        body = metadata_body(title={"en": f"load {n}"}, slug=f"load-{secrets.token_hex(6)}")
        created = await client.post("/metadatas", json=body)
        assert created.status_code == 201, created.text
        uuids.append(created.json()["uuid"])
    return uuids


@asynccontextmanager
async def load_running(client: httpx.AsyncClient, login_email: str, documents: list[str]) -> AsyncIterator[Load]:
    """The load (on ``documents``) runs while the block does; stopped and waited for when it ends. Then, when the block
    ended without an error, every acknowledged write must be readable."""
    load = Load(client, login_email)
    running = asyncio.create_task(load.run(documents))
    try:
        yield load
    finally:
        load.stop.set()
        await running
    await assert_every_acknowledged_write_is_readable(client, load)


async def assert_every_acknowledged_write_is_readable(client: httpx.AsyncClient, load: Load) -> None:
    """Every 201 capture's exact bytes, and every document at its last acknowledged version or a later one."""
    assert load.captures, "the load acknowledged no capture"
    gate = asyncio.Semaphore(8)

    async def download(record_id: str) -> tuple[str, int, bytes]:
        async with gate:
            answer = await client.get(f"{PAYLOADS}/{record_id}/download")
            return record_id, answer.status_code, answer.content

    for record_id, status, content in await asyncio.gather(*(download(record_id) for record_id in load.captures)):
        assert status == 200, (record_id, status, content[:200])
        assert content == load.captures[record_id], record_id
    assert load.documents, "the load acknowledged no PUT"
    for uuid, (version, data) in load.documents.items():
        stored = (await client.get(f"/metadatas/{uuid}")).json()
        assert stored["version"] >= version, (uuid, stored["version"], version)
        if stored["version"] == version:
            assert stored["data"] == data, uuid
