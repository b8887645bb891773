"""Install what the benchmark drives when it is missing: wrk and nginx (Debian); check datasette 0.65.5 (in the venv).

Run: `.venv/bin/python -m bench.install_tools` (``make bench`` does). datasette is a benchmark tool, not a project
dependency: it is pyproject.toml's `bench` extra, pinned with its dependencies in uv.lock, which ``make bench``
installs before this runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

DATASETTE_VERSION = "0.65.5"
APT_PACKAGES = {"wrk": "wrk", "nginx": "nginx-light"}


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _missing_debian() -> list[str]:
    missing = []
    if shutil.which("wrk") is None:
        missing.append(APT_PACKAGES["wrk"])
    if nginx_binary() is None:
        missing.append(APT_PACKAGES["nginx"])
    return missing


def _apt(*args: str) -> int:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Another apt run (a second install script, unattended upgrades) holds the lock for a while: wait, don't fail.
    lock_wait = ["-o", "DPkg::Lock::Timeout=300"]
    return subprocess.run([*prefix, "apt-get", *lock_wait, *args], env=env, check=False).returncode


def _datasette_version() -> str | None:
    binary = Path(sys.executable).with_name("datasette")
    if not binary.exists():
        return None
    completed = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return completed.stdout.strip().rsplit(" ", 1)[-1] if completed.returncode == 0 else None


def apt_install(missing: list[str], log: Callable[[str], None] = print) -> None:
    """Install Debian packages, after an ``apt-get update`` if the first try fails (a stale or empty package list)."""
    if missing:
        log(f"Installing {' '.join(missing)} with apt-get")
        if _apt("install", "-y", *missing) != 0:
            _apt("update")
            if _apt("install", "-y", *missing) != 0:
                raise SystemExit(f"could not install {' '.join(missing)}")


def ensure(log: Callable[[str], None] = print) -> None:
    apt_install(_missing_debian(), log)
    if (found := _datasette_version()) != DATASETTE_VERSION:
        # Installed from the lock only (an install here would pick versions the lock does not pin).
        raise SystemExit(f"datasette {DATASETTE_VERSION} is not in the venv (found {found}): run `make bench`")


if __name__ == "__main__":
    ensure()
