"""``metadock serve``'s supervisor: granian and its workers, with a graceful drain on SIGTERM.

On SIGTERM (what an orchestrator or ``docker stop`` sends) the node
1. raises its drain flag at once, so every worker's ``/readyz`` answers 503 and a load balancer's health check takes
   the node out of rotation;
2. keeps serving for ``drain_delay`` seconds, for the requests the load balancer sends before its next check (set it
   above the balancer's check interval times its fall count);
3. stops granian: the workers stop accepting, finish the requests in flight and exit; after ``shutdown_timeout``
   seconds (one budget for all of them: granian's ``workers_kill_timeout``) a worker still running is killed.
A second SIGTERM or SIGINT skips what is left of the delay. SIGINT alone (Ctrl-C) stops at once, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from granian.constants import Interfaces
from granian.server.mp import MPServer

from metadock.kit.drain import DRAIN_FLAG_ENV, raise_flag
from metadock.kit.metrics import node_metrics_directory

logger = logging.getLogger("metadock.node")


class _DrainingServer(MPServer):
    """Granian's multi-process server (``granian.Granian`` on a GIL build), its stop deferred by a drain."""

    def __init__(self, *args: Any, flag: Path, drain_delay: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flag = flag
        self._drain_delay = drain_delay
        self._draining = False

    def signal_handler_interrupt(self, *args: Any, **_: Any) -> None:  # as signal.signal calls it: (signum, frame)
        terminate = bool(args) and args[0] == signal.SIGTERM
        if terminate:
            raise_flag(self._flag)  # /readyz is 503 from now on, in every worker
        if not terminate or self._draining or self._drain_delay <= 0:
            self._stop()
            return
        self._draining = True
        logger.info("SIGTERM: /readyz answers 503; serving %.1f s more, then stopping", self._drain_delay)
        timer = threading.Timer(self._drain_delay, self._stop)
        timer.daemon = True
        timer.start()

    def _stop(self) -> None:
        # Granian's own handler: wakes its main loop, which stops the workers (each finishes its requests in flight).
        super().signal_handler_interrupt()  # type: ignore[no-untyped-call]  # untyped upstream


@contextlib.contextmanager
def _drain_flag(node_directory: Path) -> Iterator[Path]:
    # In the node's private directory (0700, removed on exit, and at the next start if the node was killed), beside
    # the metrics files: prometheus-client reads only its own *.db files there.
    flag = node_directory / "draining"
    os.environ[DRAIN_FLAG_ENV] = str(flag)  # before the workers start: they inherit it
    try:
        yield flag
    finally:
        os.environ.pop(DRAIN_FLAG_ENV, None)


def serve_node(host: str, port: int, workers: int, *, drain_delay: float, shutdown_timeout: int) -> None:
    """Serve the application until stopped; see the module's docstring for the drain."""
    # The node's private directory: its workers' shared metrics (/metrics sums them all) and its drain flag.
    with node_metrics_directory() as node_directory, _drain_flag(node_directory) as flag:
        _DrainingServer(
            "metadock.app:create_served_app",
            address=host,
            port=port,
            workers=workers,
            interface=Interfaces.ASGI,
            factory=True,
            workers_kill_timeout=shutdown_timeout,
            flag=flag,
            drain_delay=drain_delay,
        ).serve()
