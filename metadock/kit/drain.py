"""A node's drain flag: set by ``metadock serve``'s supervisor on SIGTERM, seen by every worker of the node.

The flag is a file in a private directory the supervisor makes before its workers start; they learn its path from
the environment they inherit. A file is what every worker process can see at once without a channel of its own: the
supervisor creates it, each worker's ``/readyz`` looks for it (one ``stat``, no I/O on the database) and answers 503
from then on, so that a load balancer's health check takes the node out of rotation while it still serves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

# Not a setting (no METADOCK_ prefix): the supervisor sets it for its workers, an operator never does.
DRAIN_FLAG_ENV: Final = "METADOCK_NODE_DRAIN_FLAG"


def draining() -> bool:
    """Whether this process's node is draining (its supervisor got SIGTERM); never, outside ``metadock serve``."""
    flag = os.environ.get(DRAIN_FLAG_ENV)
    return bool(flag) and Path(flag).exists()  # type: ignore[arg-type]  # bool(flag) proves it a str


def raise_flag(flag: Path) -> None:
    flag.touch(mode=0o600, exist_ok=True)
