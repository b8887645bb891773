"""S6 and S8 over HTTP for two code versions served side by side, in alternating rounds: ratios from the same minutes.

Two ``metadock serve`` (granian, one worker) on fresh PostgreSQL databases of their own, this checkout's code and
``--code`` (a ``git archive <commit> metadock tests``, on ``PYTHONPATH``), each with one 1 KiB capture in its file
store. One keep-alive client (``http.client``, c=1) calls, per round and per server, ``/healthz`` (the floor), S6
``GET /api/v1/payload-metadata/{id}``, S8 its ``/download`` (sent by granian's pathsend) and the same download with
``Range: bytes=0-1023`` (206, streamed through the loop: no pathsend), ``--requests`` each; the servers take turns,
first and second swapped each round. Medians over the rounds, µs per request.

Run: `.venv/bin/python -m bench.item_reads_alternating --code /tmp/before [--rounds 12] [--requests 200]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.server import Server, start, stop_process

PG = "postgresql://postgres@127.0.0.1:5432"
CASES = ("floor", "S6", "S8", "S8 range")


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, stderr=subprocess.DEVNULL)


def _serve(side: str, code: str | None, root: Path) -> tuple[Server, http.client.HTTPConnection, dict[str, str], int]:
    database = f"bench_alternating_{side}"
    _psql(f"DROP DATABASE IF EXISTS {database}")
    _psql(f"CREATE DATABASE {database}")
    data = root / side
    data.mkdir()
    env = {"METADOCK_DATABASE_URL": f"{PG}/{database}", "METADOCK_DATA_DIR": str(data)}
    if code is not None:
        env["PYTHONPATH"] = code
    server = start(data, env)
    host, port = server.base_url.split("//")[1].split(":")
    client = http.client.HTTPConnection(host, int(port))
    auth = {"Authorization": f"Bearer {server.api_key}"}
    client.request(
        "POST",
        "/api/v1/payload-metadata?flow_run_id=9&flow_step_id=1",
        body=b"x" * 1024,
        headers={**auth, "content-type": "application/octet-stream"},
    )
    response = client.getresponse()
    body = response.read()
    assert response.status == 201, body
    return server, client, auth, int(json.loads(body)["data"]["id"])


def _requests(client: http.client.HTTPConnection, auth: dict[str, str], record_id: int, case: str, n: int) -> float:
    path = {
        "floor": "/healthz",
        "S6": f"/api/v1/payload-metadata/{record_id}",
        "S8": f"/api/v1/payload-metadata/{record_id}/download",
        "S8 range": f"/api/v1/payload-metadata/{record_id}/download",
    }[case]
    headers = {**auth, "Range": "bytes=0-1023"} if case == "S8 range" else auth
    began = time.perf_counter()
    for _ in range(n):
        client.request("GET", path, headers=headers)
        response = client.getresponse()
        response.read()
        assert response.status in (200, 206), response.status
    return (time.perf_counter() - began) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", required=True, help="the other version's metadock/ (a git archive's directory)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=200)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="metadock-alternating-") as root:
        sides = {"this": None, "code": arguments.code}
        served = {}
        try:
            for side, code in sides.items():
                served[side] = _serve(side, code, Path(root))
            times: dict[tuple[str, str], list[float]] = {(side, case): [] for side in served for case in CASES}
            for _, client, auth, record_id in served.values():
                for case in CASES:
                    _requests(client, auth, record_id, case, arguments.requests)  # warm-up
            for turn in range(arguments.rounds):
                for side in list(served) if turn % 2 == 0 else list(served)[::-1]:
                    _, client, auth, record_id = served[side]
                    for case in CASES:
                        times[(side, case)].append(_requests(client, auth, record_id, case, arguments.requests))
        finally:
            for server, *_ in served.values():
                stop_process(server.process)
    print(f"{arguments.rounds} rounds x {arguments.requests} requests per case, c=1; median µs per request")
    print("| code | floor | S6 | S8 (pathsend) | S8 with Range (streamed) | S6 / floor ratio | S8 / floor ratio |")
    print("|---|---|---|---|---|---|---|")
    for side in served:
        median = {case: statistics.median(times[(side, case)]) for case in CASES}
        print(
            f"| {side if side == 'this' else arguments.code} | {median['floor']:.0f} | {median['S6']:.0f} "
            f"| {median['S8']:.0f} | {median['S8 range']:.0f} | {median['floor'] / median['S6']:.2f}x "
            f"| {median['floor'] / median['S8']:.2f}x |"
        )


if __name__ == "__main__":
    main()
