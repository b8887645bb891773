"""The console benchmark (issue 17): load the operator's data set and time every main page.

~1,500 runs of a few steps each; among them payloads as an operator meets them: JSON up to 2.8 MB minified, XML,
CSV (2.4 MB), PDF, binary, empty, malformed JSON and dropped ones. Each page is loaded ``--repeat`` times through a
logged-in console session; the table gives the median and worst time (client-side on 127.0.0.1, an upper bound of the
server's time) and the HTML size, against the issue's bounds (300 ms, 1 MB). Writes bench/results/console-latest.md.

Run: `.venv/bin/python -m bench.console [--runs 1500] [--repeat 5] [--keep DIR]`
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import server as bench_server

RESULTS = Path(__file__).resolve().parent / "results"
TIME_BOUND = 0.300
SIZE_BOUND = 1_000_000


def _json(items: int, *, seed: int = 1) -> bytes:
    rows = [{"id": i, "sku": f"S-{(i * seed) % 977}", "qty": i % 13, "tags": ["a", "b"]} for i in range(items)]
    return json.dumps(rows, separators=(",", ":")).encode()


def _specials() -> dict[str, tuple[bytes, str]]:
    return {
        "json-2.8MB": (_json(45_000), "application/json"),
        "json-160KB-a": (_json(2_600, seed=3), "application/json"),
        "json-160KB-b": (_json(2_600, seed=7), "application/json"),
        "xml": (
            (
                "<?xml version='1.0'?><rows>"
                + "".join(f"<r id='{i}'><v>{i}</v></r>" for i in range(40_000))
                + "</rows>"
            ).encode(),
            "application/xml",
        ),
        "csv-2.4MB": (
            ("id,name,value\n" + "".join(f"{i},name {i},{i * 3}\n" for i in range(110_000))).encode(),
            "text/csv",
        ),
        "pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 400, "application/pdf"),
        "binary": (bytes(range(256)) * 64, "application/octet-stream"),
        "empty": (b"", "application/json"),
        "malformed": (b'{"order": 1, "items": [1, 2,, }' * 200, "application/json"),
    }


def _seed(api: httpx.Client, runs: int) -> dict[str, int]:
    def capture(run: int, step: int, body: bytes, content_type: str) -> int:
        response = api.post(
            "/api/v1/payload-metadata",
            params={"flow_run_id": run, "flow_step_id": step},
            content=body,
            headers={"Content-Type": content_type},
        )
        response.raise_for_status()
        return int(response.json()["data"]["id"])

    small = json.dumps({"order": 42, "items": [{"sku": "A-1", "qty": 2}]}).encode()
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(lambda run: [capture(run, step, small, "application/json") for step in (1, 2, 3)], range(1, runs))
        )
    ids = {name: capture(runs, index + 1, body, kind) for index, (name, (body, kind)) in enumerate(_specials().items())}
    # Larger than the server's limit (4 MiB, set below): recorded as dropped, its bytes never kept.
    ids["dropped"] = capture(runs, 99, b"x" * (5 * 2**20), "application/json")
    ids["run"] = runs
    return ids


def _login(base_url: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', client.get("/console/login").text)
    assert token
    client.post("/console/login", data={"email": "admin@localhost", "password": password, "csrf_token": token.group(1)})
    return client


def _show_more(console: httpx.Client, path: str) -> str:
    """The next slice's fragment, as console.js fetches it from the page's "show more" link."""
    link = re.search(r'data-more="([^"]+)"', console.get(path).text)
    assert link, f"{path} offers no 'show more'"
    return link.group(1).replace("&amp;", "&")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="a directory for the data (default: a temporary one)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="metadock-console-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    server = bench_server.start(root, {"METADOCK_DATA_DIR": str(root), "METADOCK_MAX_PAYLOAD_BYTES": str(4 * 2**20)})
    try:
        log = (root / "server.log").read_text()
        password = next(line.split("Password: ", 1)[1].strip() for line in log.splitlines() if "Password: " in line)
        api = httpx.Client(base_url=server.base_url, headers={"Authorization": server.api_key}, timeout=60)
        started = time.monotonic()
        ids = _seed(api, args.runs)
        print(f"seeded {args.runs} runs in {time.monotonic() - started:.0f} s")
        console = _login(server.base_url, password)
        pages = {
            "overview": "/console",
            "runs": "/console/runs",
            "runs, last page": f"/console/runs?page={args.runs // 25}",
            "runs, has dropped": "/console/runs?dropped=1",
            "run with every kind": f"/console/runs/{ids['run']}",
            **{f"payload {name}": f"/console/payloads/{ids[name]}" for name in [*_specials(), "dropped"]},
            "payload csv-2.4MB, show more": _show_more(console, f"/console/payloads/{ids['csv-2.4MB']}"),
            "compare 160 KB JSON": f"/console/compare?left={ids['json-160KB-a']}&right={ids['json-160KB-b']}",
            "compare, JSON-aware": f"/console/compare?left={ids['json-160KB-a']}&right={ids['json-160KB-b']}&mode=json",
        }
        rows = []
        for name, path in pages.items():
            times, size, status = [], 0, 0
            for _ in range(args.repeat):
                begun = time.perf_counter()
                response = console.get(path)
                times.append(time.perf_counter() - begun)
                size, status = len(response.content), response.status_code
            median, worst = statistics.median(times), max(times)
            ok = status == 200 and median <= TIME_BOUND and size <= SIZE_BOUND
            verdict = "ok" if ok else "OVER"
            rows.append(
                f"| {name} | {status} | {median * 1000:.0f} | {worst * 1000:.0f} | {size / 1024:.0f} | {verdict} |"
            )
        table = "\n".join(
            [
                f"# Console benchmark ({args.runs} runs, median of {args.repeat})",
                "",
                "| page | status | median ms | worst ms | HTML KiB | within 300 ms, 1 MB |",
                "|---|---|---|---|---|---|",
                *rows,
            ]
        )
        print(table)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "console-latest.md").write_text(table + "\n")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
