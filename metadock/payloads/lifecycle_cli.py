"""``metadock store``: the payload store's own settings (its S3 lifecycle rule), apart from the records.

botocore is imported by ``store lifecycle`` alone, inside the command: serving and every other command never load it.
"""

from __future__ import annotations

import click

from metadock.settings import get_settings


@click.group()
def store() -> None:
    """The payload store itself."""


@store.command("lifecycle")
@click.option("--apply", "apply_", is_flag=True, help="Set the rule on the S3 bucket (every other rule is kept).")
def store_lifecycle(apply_: bool) -> None:
    """Print the S3 lifecycle configuration (JSON) that expires payload bytes after METADOCK_PAYLOAD_RETENTION_DAYS;
    with --apply, set it on the store's bucket."""
    import json

    from metadock.payloads import lifecycle

    settings = get_settings()
    days = settings.payload_retention_days
    url = settings.resolved_store_url
    if not url.startswith("s3://"):
        click.echo(
            "The file store has no lifecycle rules: `metadock payloads prune` (or `serve --prune-every`) removes "
            f"the bytes older than METADOCK_PAYLOAD_RETENTION_DAYS ({days or 'keep forever'})."
        )
        if apply_:
            raise click.ClickException("nothing to apply: the payload store is not S3")
        return
    bucket = lifecycle.Bucket.of_store_url(url)
    forever = "METADOCK_PAYLOAD_RETENTION_DAYS is 0 (keep forever): the rule only aborts incomplete uploads."
    if not apply_:
        click.echo(json.dumps(lifecycle.configuration(bucket, days), indent=2))
        click.echo(
            f"# For bucket {bucket.name}: `metadock store lifecycle --apply` sets it, keeping the bucket's other rules."
            + (f"\n# {forever}" if not days else ""),
            err=True,
        )
        return
    try:
        applied = lifecycle.apply(bucket, days, endpoint_url=settings.s3_endpoint_url)
    except lifecycle.LifecycleError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps({"Rules": [applied.rule]}, indent=2))
    expiry = f"expires payload bytes after {days} days" if days else forever
    click.echo(
        f"Set lifecycle rule {applied.rule['ID']} on bucket {bucket.name}: it {expiry[0].lower()}{expiry[1:]} "
        f"({applied.others_kept} other rules kept)."
    )
