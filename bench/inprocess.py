"""CPU per request of the hot reads straight through the ASGI app: no HTTP client, no sockets, one process.

An HTTP run on this shared 2-core machine moves by ±20% between runs of the same code; process time per request
in-process does not, so a change is measured here, its code and the previous code run one after the other. A small
dataset is made in a new database (300 metadata resources in 3 types, 300 payload records in 2 runs), then each case
is called for ``--seconds`` of process time after a warm-up.

Run: `.venv/bin/python -m bench.inprocess [--database-url URL] [--seconds 1.5] [--profile "S3 list100"]
[--code DIR]`. The default URL is a new SQLite file; a PostgreSQL URL must name an empty database of its own.
``--code DIR`` imports ``metadock`` and ``tests`` from DIR first (a ``git archive <commit> metadock tests`` of
the code to compare with); ``--profile CASE`` prints cProfile's table for that case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import pstats
import sys
import tempfile
import time
from typing import Any

Case = tuple[str, str, dict[str, str]]
CAPTURE_BODY = b'{"order": {"id": 1234}, "pad": "' + b"x" * 990 + b'"}'  # 1 KiB of JSON, as S7 sends
# 1 KiB of JSON in words (what content search indexes): the --content-search cases send it, search off and on.
TEXT_BODY = (b'{"order": {"id": 1234, "customer": "ACME Ltd"}, "lines": [' + b'"widget blue 42", ' * 54)[:1021] + b'"]}'


def _scope(path: str, query: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        # A case with a Content-Length is a capture: POST with CAPTURE_BODY.
        "method": "POST" if "content-length" in headers else "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()] + [(b"host", b"x")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _call(app: Any, case: Case, text_body: bool = False) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    body = (TEXT_BODY if text_body else CAPTURE_BODY) if "content-length" in case[2] else b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(*case), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _seed(url: str) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    from metadock import migrate
    from metadock.kit.db import Database
    from tests.factories import add_metadatas, add_payload_records, create_tenant, metadata_body

    async def upgrade() -> None:
        database = Database(url, pool_size=1)
        await migrate.upgrade(database)
        await database.dispose()

    asyncio.run(upgrade())
    keys = create_tenant(url, "bench")
    bodies = [
        metadata_body(
            slug=f"s{n}",
            title={"en": f"Title number {n} é", "fr": f"Titre {n}"},
            type=f"t{n % 3}",
            data={"k": n, "list": [1, 2.5, "xé"], "nested": {"a": None, "b": True}},
        )
        for n in range(300)
    ]
    items = add_metadatas(url, keys.uuid, bodies)
    records = add_payload_records(url, keys.uuid, [{"flow_run_id": n % 2} for n in range(300)])
    if _has_tags():
        _tag_run_1(url, keys.uuid, [record["id"] for record in records if record["flow_run_id"] == 1])
    return keys, items, records


def _has_tags() -> bool:
    """Whether the code measured has tags (``--code`` may be older)."""
    import importlib.util

    return importlib.util.find_spec("metadock.payloads.tags") is not None


def _tag_run_1(url: str, tenant_uuid: str, record_ids: list[int]) -> None:
    """Run 1's records get ``order_id=order-1``, so the tag list (S12) selects what S3's run filter does."""
    from metadock.payloads.tag_repository import TagRepository
    from metadock.tenants.repository import TenantRepository
    from tests.factories import run_in_transaction

    async def work(connection: Any) -> None:
        tenant = await TenantRepository(connection).find_by_uuid(tenant_uuid)
        for record_id in record_ids:
            await TagRepository(connection, tenant["id"]).add(record_id, {"order_id": "order-1"})

    run_in_transaction(url, work)


async def _measure(url: str, seconds: float, profile: str | None, seeded: Any, *, content_search: bool = False) -> None:
    from metadock.app import create_app
    from metadock.settings import Settings

    keys, items, records = seeded
    data_dir = tempfile.mkdtemp()
    settings = Settings(database_url=url, store_url=f"file://{data_dir}/payloads", data_dir=data_dir)
    app = create_app(settings)
    # --content-search: a capture of words on this app and on one with METADOCK_CONTENT_SEARCH=1, in this same run.
    searching = create_app(settings.model_copy(update={"content_search": True})) if content_search else None
    with open(os.devnull, "w") as devnull:  # noqa: ASYNC230 - once, before anything is measured
        for handler in logging.getLogger("metadock").handlers:
            handler._stream = devnull  # type: ignore[attr-defined]
        reader = {"Authorization": keys.reader}
        cases: dict[str, Case] = {
            "floor /healthz": ("/healthz", "", {}),
            "S1 item": (f"/metadatas/{items[7]['uuid']}", "", reader),
            "S6 item": (f"/api/v1/payload-metadata/{records[7]['id']}", "", reader),
            "S3 list100": ("/api/v1/payload-metadata", "filter%5Bflow_run_id%5D=1&per_page=100", reader),
            "S2 type+title": ("/metadatas", "type=t1&title=number&limit=100", reader),
            "M list100": ("/metadatas", "limit=100", reader),
            "S7 capture 1k": (
                "/api/v1/payload-metadata",
                "flow_run_id=9&flow_step_id=1",
                {"Authorization": keys.writer, "content-type": "application/json", "content-length": "1024"},
            ),
        }
        if _has_tags():
            cases["S7 capture+tag"] = (
                "/api/v1/payload-metadata",
                "flow_run_id=9&flow_step_id=1&tag%5Border_id%5D=1234",
                {"Authorization": keys.writer, "content-type": "application/json", "content-length": "1024"},
            )
            cases["S12 tag list100"] = (
                "/api/v1/payload-metadata",
                "filter%5Btag.order_id%5D=order-1&per_page=100",
                reader,
            )
        runs: list[tuple[str, Any, Case, bool]] = [(name, app, case, False) for name, case in cases.items()]
        if searching is not None:
            runs += [
                ("S7 words 1k", app, cases["S7 capture 1k"], True),
                ("S7 words+search", searching, cases["S7 capture 1k"], True),
            ]
        async with contextlib.AsyncExitStack() as lifespans:
            for running in (app, searching):
                if running is not None:
                    await lifespans.enter_async_context(running.lifespan())
            for name, running, case, text_body in runs:
                status, body = await _call(running, case, text_body)
                assert status in (200, 201), (name, status, body[:300])
            for name, running, case, text_body in runs:
                for _ in range(50):
                    await _call(running, case, text_body)
                profiler = cProfile.Profile(time.process_time) if profile == name else None  # CPU, not waits
                calls, started = 0, time.process_time()
                if profiler:
                    profiler.enable()
                while time.process_time() - started < seconds:
                    for _ in range(20):
                        await _call(running, case, text_body)
                    calls += 20
                elapsed = time.process_time() - started
                if profiler:
                    profiler.disable()
                    # PROFILE_SORT=cumulative (or any pstats key) and PROFILE_ROWS=N change the table printed.
                    order, rows = os.environ.get("PROFILE_SORT", "tottime"), int(os.environ.get("PROFILE_ROWS", "40"))
                    pstats.Stats(profiler).sort_stats(order).print_stats(rows)
                print(f"{name:16s} {elapsed / calls * 1e6:8.1f} µs/request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--code", default=None)
    parser.add_argument("--content-search", action="store_true", help="also a capture of words, search off and on")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, args.code)
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/metadock.db"
    import metadock

    print("code:", os.path.dirname(metadock.__file__))
    seeded = _seed(url)  # the factories run their own event loops
    asyncio.run(_measure(url, args.seconds, args.profile, seeded, content_search=args.content_search))


if __name__ == "__main__":
    main()
