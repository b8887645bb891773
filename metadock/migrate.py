"""Schema changes go through Alembic only, in the app, the CLI and the tests alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from metadock.kit.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


async def upgrade(database: Database, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    await database.run_sync(run)
