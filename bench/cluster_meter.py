"""What a cluster run uses besides its requests: CPU seconds of the nodes, HAProxy, SeaweedFS and the PostgreSQL
backends serving the benchmark's database (from /proc), the whole machine's busy time (/proc/stat), and the
database's connections (``pg_stat_activity``, sampled every 100 ms by a thread of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.seed_postgres import driver_url
from bench.wrk import tree_cpu_seconds

_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.1


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores: /proc/stat's first line."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # user .. steal (guest time is counted in user already)
    return (total - idle) / _TICKS, total / _TICKS


@dataclass
class Usage:
    """One measured run: CPU seconds per component, the wall time, and the database's connections at their peak."""

    wall_s: float
    cpu_s: dict[str, float]  # nodes, haproxy, postgres, seaweedfs, machine (all cores, everything on it)
    pg_connections_peak: int = 0  # backends on the benchmark's database (the watcher's own left out)
    pg_active_peak: int = 0  # of which running a statement at once ("active")
    pg_connections_end: int = 0


@dataclass
class PostgresWatch:
    """Backends of one database, sampled in a thread: their count (peak, active peak) and each one's CPU seconds."""

    url: str
    database: str
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds when last seen
    start_cpu: dict[int, float] = field(default_factory=dict)
    peak: int = 0
    active_peak: int = 0
    last_count: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PostgresWatch:
        started = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(started)), daemon=True)
        self._thread.start()
        started.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    async def _main(self, started: threading.Event) -> None:
        connection = await asyncpg.connect(driver_url(self.url))
        try:
            await self._sample(connection)
            started.set()
            while not self._stop.is_set():
                await asyncio.sleep(SAMPLE_EVERY)
                await self._sample(connection)
        finally:
            started.set()
            await connection.close()

    async def _sample(self, connection: asyncpg.Connection) -> None:
        rows = await connection.fetch(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", self.database
        )
        with self._lock:
            self.last_count = len(rows)
            self.peak = max(self.peak, len(rows))
            self.active_peak = max(self.active_peak, sum(1 for row in rows if row["state"] == "active"))
            for row in rows:
                if (seconds := process_cpu_seconds(row["pid"])) is not None:
                    self.cpu[row["pid"]] = seconds

    def _refresh(self) -> None:
        for pid in list(self.cpu):
            if (seconds := process_cpu_seconds(pid)) is not None:
                self.cpu[pid] = seconds

    def begin(self) -> None:
        with self._lock:
            self._refresh()
            self.start_cpu = dict(self.cpu)
            self.peak, self.active_peak = self.last_count, 0

    def cpu_since_begin(self) -> float:
        """CPU seconds of the database's backends since :meth:`begin` (one started since counts whole)."""
        with self._lock:
            self._refresh()
            return sum(seconds - self.start_cpu.get(pid, 0.0) for pid, seconds in self.cpu.items())


@contextlib.contextmanager
def metered(groups: dict[str, Callable[[], list[int]]], watch: PostgresWatch) -> Iterator[list[Usage]]:
    """Around one run: yields a list that holds its :class:`Usage` after the block. ``groups`` name the process trees
    measured (e.g. "nodes": the nodes' supervisor pids), read again at the end (a worker restarted meanwhile counts
    from its start)."""

    def snapshot() -> dict[str, float]:
        return {name: sum(tree_cpu_seconds(pid) for pid in pids()) for name, pids in groups.items()}

    found: list[Usage] = []
    watch.begin()
    before, (busy_before, _) = snapshot(), machine_busy_seconds()
    started = time.perf_counter()
    yield found
    wall = time.perf_counter() - started
    after, (busy_after, _) = snapshot(), machine_busy_seconds()
    cpu = {name: max(0.0, after[name] - before[name]) for name in groups}
    cpu["postgres"] = watch.cpu_since_begin()
    cpu["machine"] = busy_after - busy_before
    with watch._lock:
        peak, active, last = watch.peak, watch.active_peak, watch.last_count
    found.append(Usage(wall, cpu, peak, active, last))
