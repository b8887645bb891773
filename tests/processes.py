"""The processes a test run starts, stopped by the test that started them and looked for again at the end of the run.

Every process the suite starts inherits the run's environment, so it carries the mark set in ``mark_this_run``; a
process keeps it even when orphaned (its parent killed, it is reparented to init) or in a session of its own (a
server's process group, PostgreSQL's postmaster), which is how a server can outlive the run that started it. Reading
``/proc/<pid>/environ`` finds them all, and nothing that another engineer's concurrent run started (another mark).

As a pytest plugin (tests/conftest.py takes its hook and fixture), it fails a run that leaves any of them alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Not METADOCK_-prefixed: several tests hand their subprocesses the environment less the METADOCK_ variables.
RUN_VARIABLE = "PYTEST_METADOCK_RUN"
PROC = Path("/proc")


@dataclass(frozen=True)
class Started:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command}"


def mark_this_run() -> str:
    """Give every process started from now on this run's mark (a fresh one: a run started from another run's process
    must not count that run's processes as its own)."""
    os.environ[RUN_VARIABLE] = f"{os.getpid()}-{uuid.uuid4().hex}"
    return os.environ[RUN_VARIABLE]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # gone since the listing, or not ours to read
        return None


def started_by_this_run() -> list[Started]:
    """The live processes carrying this run's mark, the test process itself excepted (zombies are already dead)."""
    mark = f"{RUN_VARIABLE}={os.environ.get(RUN_VARIABLE, '')}".encode()
    if mark.endswith(b"="):
        return []
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        stat, environ = _read(entry / "stat"), _read(entry / "environ")
        if stat is None or environ is None or mark not in environ.split(b"\0"):
            continue
        state = stat.rsplit(b")", 1)[-1].split()[0]  # the field after "(comm)", which may itself hold spaces
        if state in (b"Z", b"X"):
            continue
        command = (_read(entry / "cmdline") or b"").replace(b"\0", b" ").decode(errors="replace").strip()
        found.append(Started(int(entry.name), command))
    return found


def left_behind(grace: float) -> list[Started]:
    """What is still alive after ``grace`` seconds: a process told to stop a moment ago may still be on its way out."""
    deadline = time.monotonic() + grace
    while (alive := started_by_this_run()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def kill(processes: list[Started]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signal.SIGKILL)


def stop_group(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything in its group.

    SIGTERM to the process itself, as an operator would (granian then stops its workers); after ``grace``, SIGKILL to
    the whole group. The group is what matters: granian waits for its workers without a limit, so a worker stuck on
    its way out keeps the main process waiting, and killing the main process alone leaves the worker running,
    orphaned, long after the run.
    """
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    wait_until_group_gone(process.pid)


def wait_until_group_gone(group: int, timeout: float = 10.0) -> None:
    """Until no live process is left in ``group``. Killed orphans stay zombies until init reaps them (here up to ~2 s
    later), and a zombie holds no port and runs nothing, so it does not count."""
    deadline = time.monotonic() + timeout
    while group_members(group) and time.monotonic() < deadline:
        time.sleep(0.05)


def group_members(group: int) -> list[int]:
    """The live processes of a process group, read from /proc (the fifth field of ``stat`` is the group)."""
    members = []
    for entry in PROC.iterdir():
        stat = _read(entry / "stat") if entry.name.isdigit() else None
        if stat is None:
            continue
        state, _parent, member_of = stat.rsplit(b")", 1)[-1].split()[:3]
        if int(member_of) == group and state not in (b"Z", b"X"):
            members.append(int(entry.name))
    return members


def pytest_configure(config: pytest.Config) -> None:
    mark_this_run()  # before any fixture or test starts a process


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_run() -> Iterator[None]:
    """Set up before, so torn down after, every other fixture of the run (the session's S3 server included): what
    is alive then was left running by a test or a fixture, e.g. a server's worker orphaned by killing its parent."""
    yield
    left = left_behind(grace=3.0)
    kill(left)
    if left:
        pytest.fail(
            "processes started by this run were still running at its end (now killed):\n"
            + "\n".join(f"  {process}" for process in left),
            pytrace=False,
        )
