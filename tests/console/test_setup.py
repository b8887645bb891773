"""Finding 10: an operator sets the console up: `make run` on another port, the console URL printed at start-up, a
lost admin password reset from the command line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from tests.live import METADOCK, start_server

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_takes_port_and_host_overrides() -> None:
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=9123", "HOST=0.0.0.0"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    (serve,) = [line for line in dry.stdout.splitlines() if "metadock serve" in line]
    # make -n prints the shell text: the defaults stay, and the environment's PORT/HOST win at run time.
    done = subprocess.run(
        ["sh", "-c", f"echo {serve.split('metadock serve', 1)[1]}"],
        env={**os.environ, "PORT": "9123", "HOST": "0.0.0.0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["--host", "0.0.0.0", "--port", "9123"]
    default = subprocess.run(
        ["sh", "-c", f"echo {serve.split('metadock serve', 1)[1]}"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")},
    )
    assert default.stdout.split() == ["--host", "127.0.0.1", "--port", "8000"]


def _env(root: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("METADOCK_")}
    env.update(
        {
            "METADOCK_DATABASE_URL": f"sqlite:///{root / 'metadock.db'}",
            "METADOCK_STORE_URL": f"file://{root / 'payloads'}",
            "METADOCK_DATA_DIR": str(root / "var"),
        }
    )
    return env


def test_start_up_prints_the_console_url_and_a_lost_password_can_be_reset(tmp_path: Path) -> None:
    env = _env(tmp_path)
    server = start_server(env)
    try:
        port = server.base_url.rsplit(":", 1)[1]
        assert f"Console: http://127.0.0.1:{port}/console" in server.output, server.output
        tenant = next(line.split("(", 1)[1].split(")", 1)[0] for line in server.output if "Created tenant" in line)
        new_password = "a brand new password 42"
        reset = subprocess.run(
            [METADOCK, "users", "reset-password", "--tenant", tenant, "--email", "admin@localhost"],
            input=new_password + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert reset.returncode == 0, reset.stderr
        login = f"{server.base_url}/fabric/api/login"
        old = next(line.split("Password: ", 1)[1] for line in server.output if "Password: " in line)
        assert httpx.post(login, json={"username": "admin@localhost", "password": old}, timeout=10).status_code == 401
        fresh = httpx.post(login, json={"username": "admin@localhost", "password": new_password}, timeout=10)
        assert fresh.status_code == 200, fresh.text
        unknown = subprocess.run(
            [METADOCK, "users", "reset-password", "--tenant", tenant, "--email", "nobody@localhost"],
            input=new_password + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert unknown.returncode != 0
        assert "No such user" in unknown.stderr
    finally:
        server.stop()
