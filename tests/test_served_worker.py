"""A served worker (``metadock serve``'s factory) freezes what its start-up built, so that the garbage collector
never walks it in the middle of a request, and answers as the plain application does."""

from __future__ import annotations

import gc

from litestar.testing import TestClient

from metadock.app import create_served_app
from metadock.settings import Settings


def test_a_served_worker_freezes_its_start_up_and_still_answers(settings: Settings) -> None:
    gc.unfreeze()
    try:
        with TestClient(create_served_app(settings)) as client:
            frozen = gc.get_freeze_count()
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200  # the database the lifespan opened is there
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
    assert frozen > 10_000  # modules, the app and its routes, tables: far more than a handful
