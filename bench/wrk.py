"""Run wrk (one thread, a Lua script) against a local server and parse its report; measure the server meanwhile."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.memory import PeakSampler
from bench.server import _children

LUA = Path(__file__).parent / "lua"
MIB = 1024 * 1024
_TICKS = os.sysconf("SC_CLK_TCK")
_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": MIB, "GB": 1024 * MIB, "TB": 1024 * 1024 * MIB}


@dataclass
class WrkResult:
    connections: int
    duration_s: float
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p75_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    transfer_bps: float = 0.0
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    cpu_percent: float = 0.0  # the server's process tree: (utime + stime) / wall time
    peak_rss_mib: float = 0.0
    raw: str = ""

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def mb_per_s(self) -> float:
        return self.transfer_bps / 1e6


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(match[1]) * _TIME_UNITS[match[2]]


def _bytes(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", value.strip())
    if not match:
        raise ValueError(f"not a wrk size: {value!r}")
    return float(match[1]) * _SIZE_UNITS[match[2]]


def parse(output: str, connections: int, duration_s: float) -> WrkResult:
    """Parse wrk 4's text report (with --latency)."""
    result = WrkResult(connections, duration_s, raw=output)
    for percent, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M):
        setattr(result, f"p{percent}_ms", _ms(value))
    if match := re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.M):
        result.requests = int(match[1])
        result.duration_s = _ms(match[2]) / 1e3
    if match := re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M):
        result.rps = float(match[1])
    if match := re.search(r"^Transfer/sec:\s+(\S+)", output, re.M):
        result.transfer_bps = _bytes(match[1])
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        result.non_2xx = int(match[1])
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        result.socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))
    if not result.requests and "requests in" not in output:
        raise RuntimeError(f"wrk gave no report:\n{output}")
    return result


def tree_pids(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending.extend(_children(current))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live descendants, in seconds."""
    total = 0
    for current in tree_pids(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICKS


def run(
    url: str,
    script: str,
    script_args: list[str],
    *,
    connections: int,
    duration_s: float,
    server_pid: int | None = None,
    timeout_s: float = 10.0,
) -> WrkResult:
    """One bounded wrk run on 127.0.0.1; the server tree's CPU and peak RSS are measured over it."""
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the benchmark only sends traffic to 127.0.0.1")
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency",
        f"--timeout={max(1, round(timeout_s))}s", "-s", str(LUA / script), url, "--", *script_args,
    ]  # fmt: skip
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    wall_before = time.perf_counter()
    sampler = PeakSampler(server_pid) if server_pid else None
    if sampler:
        sampler.__enter__()
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + timeout_s + 30, check=False
        )
    finally:
        if sampler:
            sampler.__exit__()
    wall = time.perf_counter() - wall_before
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr}{completed.stdout}")
    result = parse(completed.stdout, connections, duration_s)
    if server_pid:
        result.cpu_percent = 100 * (tree_cpu_seconds(server_pid) - cpu_before) / wall
        result.peak_rss_mib = (sampler.peak if sampler else 0) / MIB
    return result
