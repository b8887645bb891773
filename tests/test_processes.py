"""No process a test starts outlives the run: servers are stopped whole, and the run's end finds what was not.

The leak these guard against: a ``metadock serve`` whose main process was killed (as stopping a server did after a
10 s grace) leaves granian's worker serving, orphaned, after the run; one from tests/test_own_openapi.py was found
running after a green ``make test``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.live import start_server
from tests.processes import RUN_VARIABLE, Started, group_members, started_by_this_run

ROOT = Path(__file__).resolve().parents[1]


def pids(found: list[Started]) -> set[int]:
    return {process.pid for process in found}


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_bytes().rsplit(b")", 1)[-1].split()[0] not in (b"Z", b"X")


def sqlite_server_env(directory: Path) -> dict[str, str]:
    return {
        "METADOCK_DATABASE_URL": f"sqlite:///{directory / 'metadock.db'}",
        "METADOCK_STORE_URL": f"file://{directory / 'payloads'}",
        "METADOCK_DATA_DIR": str(directory),
    }


def test_a_process_orphaned_in_a_session_of_its_own_is_still_found_as_this_runs() -> None:
    # The shell exits at once: its background sleep is reparented to init, in a session of its own.
    done = subprocess.run(
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    orphan = int(done.stdout)
    try:
        assert orphan in pids(started_by_this_run())
    finally:
        os.kill(orphan, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert orphan not in pids(started_by_this_run())


def test_another_runs_processes_are_not_counted_as_this_runs() -> None:
    # Other engineers' test runs share the machine: their servers are theirs to stop.
    other = subprocess.Popen(["sleep", "60"], env={**os.environ, RUN_VARIABLE: "another-run"})
    try:
        assert other.pid not in pids(started_by_this_run())
    finally:
        other.kill()
        other.wait()


def test_stopping_a_server_stops_its_worker_even_when_its_main_process_is_gone(tmp_path: Path) -> None:
    server = start_server(sqlite_server_env(tmp_path))
    try:
        workers = [pid for pid in group_members(server.process.pid) if pid != server.process.pid]
        assert workers, "granian serves from a worker process"
        server.process.kill()  # what the old stop() did after its grace: the worker is orphaned, still serving
        server.process.wait()
        assert set(workers) <= pids(started_by_this_run())
    finally:
        server.stop()
    assert group_members(server.process.pid) == []
    assert not set(workers) & pids(started_by_this_run())


LEAKING_TEST = """
from tests.live import start_server
from tests.test_processes import sqlite_server_env


def test_leaves_a_worker_behind(tmp_path):
    server = start_server(sqlite_server_env(tmp_path))
    server.process.kill()  # the main process only: its worker goes on serving, orphaned
    server.process.wait()
"""


def test_a_run_that_leaves_a_server_running_fails_and_kills_it(tmp_path: Path) -> None:
    """The end-of-run check (tests/processes.py, in every run through tests/conftest.py), on a run of its own whose
    one test passes but leaks a worker."""
    (tmp_path / "test_leak.py").write_text(textwrap.dedent(LEAKING_TEST))
    temp = tmp_path / "tmp"  # the leaking test's temporary files (its server's) stay in this test's directory
    temp.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.processes", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=ROOT,
        # The check alone (seconds, not the suite's set-up).
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed, 1 error" in run.stdout, run.stdout
    assert "still running at its end (now killed)" in run.stdout, run.stdout
    reported = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("pid ")]
    assert reported, run.stdout
    assert all("metadock serve" in line for line in reported), reported
    for line in reported:
        assert not alive(int(line.split()[1].rstrip(":"))), line
