"""The ``metadock`` command line: serve, migrate, and manage tenants and API keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click
from pydantic import ValidationError

from metadock.cli_accounts import in_transaction, keys, tenants, users
from metadock.kit.db import Database
from metadock.payloads.lifecycle_cli import store
from metadock.settings import get_settings

if TYPE_CHECKING:
    from metadock.payloads.store import PayloadStore

logger = logging.getLogger("metadock.cli")

T = TypeVar("T")


def _with_store(work: Callable[[Database, PayloadStore], Awaitable[T]]) -> T:
    from metadock.payloads.store import open_store

    async def run() -> T:
        settings = get_settings()
        database = Database(settings.database_url)
        try:
            store = open_store(settings.resolved_store_url, endpoint_url=settings.s3_endpoint_url)
            return await work(database, store)
        finally:
            await database.dispose()

    result = asyncio.run(run())
    # obstore's runtime threads may still be finishing a call; exiting under them can abort the interpreter.
    time.sleep(0.05)
    return result


def _upgrade() -> None:
    from metadock import migrate  # Alembic costs most of a second to import; only some commands need it

    async def run() -> None:
        database = Database(get_settings().database_url)
        try:
            await migrate.upgrade(database)
            await _ensure_partitions(database)
        finally:
            await database.dispose()

    asyncio.run(run())


async def _ensure_partitions(database: Database) -> None:
    """PostgreSQL: keep the configured number of empty payload partitions made ahead (startup, every prune)."""
    from metadock.payloads.partitions import ensure_partitions

    settings = get_settings()
    made = await ensure_partitions(
        database, width=settings.payload_partition_ids, ahead=settings.payload_partitions_ahead
    )
    if made:
        logger.info("made %d payload partitions ahead of need", made)


@click.group()
def main() -> None:
    """Metadock: metadata and payloads of an integration platform, over DigitalState and Patchworks APIs."""


async def _apply_retention(
    database: Database, store: PayloadStore, *, bytes_days: int, records_days: int | None
) -> tuple[int, int]:
    """Both retentions: payload bytes past ``bytes_days`` (0: kept), records past ``records_days`` (None: kept)."""
    from metadock.payloads import maintenance

    started = dt.datetime.now(dt.UTC)
    await _ensure_partitions(database)
    pruned = await maintenance.prune(database, store, older_than_days=bytes_days) if bytes_days else 0
    deleted = 0
    if records_days is not None:
        deleted = await maintenance.prune_records(database, store, older_than_days=records_days, started=started)
    return pruned, deleted


def _configured_record_days() -> int | None:
    return get_settings().record_retention_days or None  # 0 in the setting keeps records forever


def _prune_periodically(every_seconds: int) -> None:
    """Retention pruning in the serving process's own thread, so one job runs however many workers serve."""

    def loop() -> None:
        while True:
            time.sleep(every_seconds)
            try:
                pruned, deleted = _with_store(
                    lambda database, store: _apply_retention(
                        database,
                        store,
                        bytes_days=get_settings().payload_retention_days,
                        records_days=_configured_record_days(),
                    )
                )
                if pruned or deleted:
                    logger.info("pruned %d expired payloads, deleted %d expired records", pruned, deleted)
            except Exception:
                logger.exception("periodic prune failed; retrying at the next period")

    threading.Thread(target=loop, name="metadock-prune", daemon=True).start()


def _check_settings() -> None:
    """Refuse to start on an invalid configuration with one clear line per problem, never echoing a value."""
    try:
        get_settings()
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False, include_input=False):
            message = item["msg"].removeprefix("Value error, ")
            field = "_".join(map(str, item["loc"])).upper()
            problems.append(f"METADOCK_{field}: {message}" if field else message)
        raise click.ClickException("invalid configuration: " + "; ".join(problems)) from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--prune-every",
    default=3600,
    show_default=True,
    type=click.IntRange(0),
    help="Seconds between retention prunes (0: never).",
)
@click.option(
    "--drain-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 600),
    help="On SIGTERM: seconds to keep serving after /readyz turns 503 (above a load balancer's check interval).",
)
@click.option(
    "--shutdown-timeout",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="On stopping: seconds the workers get to finish their requests in flight before they are killed.",
)
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Apply pending migrations first (a cluster's nodes: --no-migrate, after one `metadock db upgrade`).",
)
def serve(
    host: str, port: int, workers: int, prune_every: int, drain_delay: float, shutdown_timeout: int, migrate: bool
) -> None:
    """Apply migrations, create the first tenant and key on an empty database, and serve."""
    from metadock.node import serve_node

    _check_settings()
    from metadock.tenants.bootstrap import FirstStart, bootstrap

    if migrate:
        _upgrade()
    get_settings().signing_key()  # generated once here, before the workers start and read it
    first: FirstStart | None = in_transaction(bootstrap)
    if first is not None:
        click.echo(f"Created tenant 'default' ({first.tenant_uuid}) with an admin API key, shown only this once:")
        click.echo(f"API key: {first.api_key}")
        click.echo(f"Make more with: metadock keys create --tenant {first.tenant_uuid} --role reader|writer|admin")
        click.echo(f"Admin user: {first.admin_email}")
        click.echo(f"Password: {first.admin_password}")
        body = f'{{"username": "{first.admin_email}", "password": "<the password>"}}'
        click.echo(
            f"Log in: curl -H 'Content-Type: application/json' -d '{body}' http://{host}:{port}/fabric/api/login"
        )
    if prune_every:
        _prune_periodically(prune_every)
    if get_settings().webhooks_dispatch:
        from metadock.webhooks.dispatch import run_in_thread

        run_in_thread(get_settings())
    # The operator's next step is the console: print where it is, for the address they can open in a browser.
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a listen address, not a bind
    click.echo(f"Console: http://{_url_host(shown_host)}:{port}/console")
    serve_node(host, port, workers, drain_delay=drain_delay, shutdown_timeout=shutdown_timeout)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    _upgrade()
    click.echo("Database is up to date.")


@db.command("vacuum")
def db_vacuum() -> None:
    """Rewrite the database compactly (SQLite: also switches an older file to incremental space reclaiming)."""

    async def run() -> None:
        database = Database(get_settings().database_url)
        try:
            await database.vacuum()
        finally:
            await database.dispose()

    asyncio.run(run())
    click.echo("Database vacuumed.")


@main.group()
def payloads() -> None:
    """Payload bytes: retention and consistency."""


@payloads.command("prune")
@click.option("--older-than", "older_than", type=click.IntRange(1), default=None, help="Days; default: the retention.")
@click.option(
    "--records-older-than",
    "records_older_than",
    type=click.IntRange(0),
    default=None,
    help="Days; delete records (and bytes) older than this; 0: every record captured before the command started. "
    "Default: the record retention.",
)
def payloads_prune(older_than: int | None, records_older_than: int | None) -> None:
    """Remove the bytes of payloads older than the retention and mark their records dropped (expired); delete the
    records older than the record retention."""
    bytes_days = older_than or get_settings().payload_retention_days
    records_days = records_older_than if records_older_than is not None else _configured_record_days()
    if not bytes_days and records_days is None:
        click.echo("Retention is 0 (keep forever): nothing to prune.")
        return
    pruned, deleted = _with_store(
        lambda database, store: _apply_retention(database, store, bytes_days=bytes_days, records_days=records_days)
    )
    if bytes_days:
        click.echo(f"Pruned {pruned} payloads older than {bytes_days} days.")
    if records_days is not None:
        click.echo(f"Deleted {deleted} records older than {records_days} days.")


@payloads.command("fsck")
@click.option("--repair", is_flag=True, help="Remove orphaned bytes and mark records whose bytes are gone.")
def payloads_fsck(repair: bool) -> None:
    """Find bytes without a record and records without bytes; exits 1 when something is wrong and not repaired."""
    from metadock.payloads import maintenance

    days = get_settings().payload_retention_days
    report = _with_store(lambda database, store: maintenance.fsck(database, store, repair=repair, retention_days=days))
    for key in report.orphaned_keys:
        click.echo(f"orphaned bytes: {key}{' (removed)' if repair else ''}")
    for record_id in report.missing_records:
        reason = report.reason(record_id)
        click.echo(
            f"record without bytes: {record_id}" + (f" (marked dropped: {reason})" if repair else f" ({reason})")
        )
    click.echo(
        f"{len(report.orphaned_keys)} orphaned objects, {len(report.missing_records)} records without bytes"
        + (f", {report.stale_uploads_removed} stale uploads removed" if repair else "")
    )
    if (report.orphaned_keys or report.missing_records) and not repair:
        raise SystemExit(1)


for group in (tenants, keys, users, store):
    main.add_command(group)


@main.group()
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("deliver")
@click.option("--once", is_flag=True, required=True, help="Attempt every delivery due now once, then exit.")
def webhooks_deliver(once: bool) -> None:  # noqa: ARG001 - the flag is required: this command never loops
    """Send the deliveries that are due (``metadock serve`` does this continuously)."""
    from metadock.webhooks.dispatch import deliver_once

    _check_settings()
    click.echo(f"attempted {asyncio.run(deliver_once(get_settings()))} deliveries")
