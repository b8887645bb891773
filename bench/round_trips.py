"""Round trips to the database per request, and the request's wall time at c=1, for the authenticated item reads.

In-process (the ASGI app called directly, no HTTP client, no sockets on the app's side) on a small dataset made in a
new database (bench/inprocess.py's, plus one 1 KiB capture for the download): for S1 ``GET /metadatas/{uuid}``, S6
``GET /api/v1/payload-metadata/{id}``, its ``/meta`` and S8 its ``/download`` (file store), each with a reader's
API key, the round trips per request counted on the wire (bench/pg_round_trips.py: PostgreSQL only), then, without
the proxy, the wall time and the process time per request one after another (c=1) against ``/healthz`` in the
same run. On this shared machine the wall time moves with the load; the round trips do not.

Run: `.venv/bin/python -m bench.round_trips --database-url postgresql://…/<empty database> [--requests 2000]
[--code DIR]` (``--code``: a ``git archive <commit> metadock tests`` of the code to compare with, as in
bench/inprocess.py). Without ``--database-url``, a new SQLite file (wall and process time only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from bench.pg_round_trips import counting_round_trips

Case = tuple[str, str, dict[str, str]]
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - for the whole run


def _cases(seeded: Any, record_id: int) -> dict[str, Case]:
    keys, items, records = seeded
    reader = {"Authorization": keys.reader}
    return {
        "floor /healthz": ("/healthz", "", {}),
        "S1 item": (f"/metadatas/{items[7]['uuid']}", "", reader),
        "S6 item": (f"/api/v1/payload-metadata/{records[7]['id']}", "", reader),
        "S6 /meta": (f"/api/v1/payload-metadata/{records[7]['id']}/meta", "", reader),
        "S8 download 1k": (f"/api/v1/payload-metadata/{record_id}/download", "", reader),
    }


async def _app_run(url: str, data_dir: str, work: Any) -> Any:
    from metadock.app import create_app
    from metadock.settings import Settings

    settings = Settings(database_url=url, store_url=f"file://{data_dir}/payloads", data_dir=data_dir)
    app = create_app(settings)
    for handler in logging.getLogger("metadock").handlers:
        handler._stream = _DEVNULL  # type: ignore[attr-defined]  # the access log, muted
    async with app.lifespan():
        return await work(app)


async def _call(app: Any, case: Case) -> tuple[int, bytes]:
    """bench/inprocess.py's call, with the server's pathsend extension (S8 as granian serves it)."""
    from bench.inprocess import CAPTURE_BODY, _scope

    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.Event().wait()  # until the response is sent and the listener cancelled
        received = True
        body = CAPTURE_BODY if "content-length" in case[2] else b""
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = _scope(*case)
    scope["extensions"] = {"http.response.pathsend": {}}  # as granian serves: it sends a file store's bytes itself
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def _capture(app: Any, writer: str) -> int:
    case = (
        "/api/v1/payload-metadata",
        "flow_run_id=9&flow_step_id=1",
        {"Authorization": writer, "content-type": "application/json", "content-length": "1024"},
    )
    status, body = await _call(app, case)
    assert status == 201, body[:300]
    return int(json.loads(body)["data"]["id"])


async def _count(app: Any, cases: dict[str, Case], counter: Any, requests: int) -> dict[str, float]:
    counted = {}
    for name, case in cases.items():
        for _ in range(5):
            await _call(app, case)
        before = counter.round_trips
        for _ in range(requests):
            status, body = await _call(app, case)
            assert status == 200, (name, status, body[:200])
        counted[name] = (counter.round_trips - before) / requests
    return counted


async def _time(app: Any, cases: dict[str, Case], requests: int) -> dict[str, tuple[float, float]]:
    """Per case, the median over 5 rounds of (wall µs, process µs) per request; the cases take turns each round."""
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for case in cases.values():
        for _ in range(50):
            await _call(app, case)
    per_round = max(1, requests // 5)
    for _ in range(5):
        for name, case in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                await _call(app, case)
            rounds[name].append(
                ((time.perf_counter() - wall) / per_round * 1e6, (time.process_time() - cpu) / per_round * 1e6)
            )
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in rounds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--code", default=None)
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, args.code)
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/metadock.db"
    import metadock
    from bench.inprocess import _seed

    print("code:", os.path.dirname(metadock.__file__))
    seeded = _seed(url)
    data_dir = tempfile.mkdtemp()
    record_id = asyncio.run(_app_run(url, data_dir, lambda app: _capture(app, seeded[0].writer)))
    cases = _cases(seeded, record_id)
    counted: dict[str, float] = {}
    if url.startswith("postgres"):
        with counting_round_trips(url) as counter:
            counted = asyncio.run(
                _app_run(counter.url, data_dir, lambda app: _count(app, cases, counter, min(args.requests, 200)))
            )
    timed = asyncio.run(_app_run(url, data_dir, lambda app: _time(app, cases, args.requests)))
    floor_wall = timed["floor /healthz"][0]
    print(f"{'case':16s} {'round trips':>11s} {'wall µs':>9s} {'req/s':>8s} {'floor×':>7s} {'cpu µs':>8s}")
    for name, (wall, cpu) in timed.items():
        trips = f"{counted[name]:.2f}" if name in counted else "-"
        print(f"{name:16s} {trips:>11s} {wall:9.1f} {1e6 / wall:8.0f} {floor_wall / wall:7.2f} {cpu:8.1f}")


if __name__ == "__main__":
    main()
