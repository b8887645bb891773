"""The S3 lifecycle rule that expires payload bytes after ``METADOCK_PAYLOAD_RETENTION_DAYS``, and setting it.

One rule covers every payload Metadock writes: every key begins with ``payloads/`` under the store's prefix
(``s3://bucket/prefix`` -> ``prefix/payloads/``), and S3 expires an object by its age, so ``Expiration.Days = N``
on that one prefix is the whole retention. The rule also aborts multipart uploads left incomplete for a day (a
process killed mid-upload; obstore cannot list them). Its ID names the prefix (``metadock:prefix/payloads/``), so
several Metadocks sharing a bucket under different prefixes each own one rule, and applying it keeps every other rule
of the bucket: a bucket's lifecycle configuration is one document, replaced whole by each PUT.

obstore has no bucket API, so the rule is set through botocore (AWS's own client: signing, the checksum S3 requires
on this request, error parsing), imported only by this command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from metadock.payloads.s3_options import client_options
from metadock.payloads.store import KEY_ROOT

RULE_ID_PREFIX: Final = "metadock:"
ABORT_INCOMPLETE_UPLOADS_DAYS: Final = 1
_NO_CONFIGURATION: Final = "NoSuchLifecycleConfiguration"


class LifecycleError(Exception):
    """The bucket's lifecycle could not be read or set; the message names the server's answer, never a secret."""


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    prefix: str  # the store's prefix inside the bucket, without slashes at either end; "" for none

    @classmethod
    def of_store_url(cls, url: str) -> Bucket:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("not an S3 store URL")
        return cls(parts.netloc, parts.path.strip("/"))

    @property
    def rule_prefix(self) -> str:
        """The one prefix every payload key of this store begins with (keys of the older ``ab/cd/…`` shape do not:
        ``payloads prune`` removes those)."""
        return f"{self.prefix}/{KEY_ROOT}" if self.prefix else KEY_ROOT


def rule(bucket: Bucket, retention_days: int) -> dict[str, Any]:
    """The rule for ``retention_days`` (``0``, keep forever: only the clean-up of incomplete uploads)."""
    if retention_days < 0:
        raise ValueError("retention_days must not be negative")
    prefix = bucket.rule_prefix
    body: dict[str, Any] = {
        "ID": f"{RULE_ID_PREFIX}{prefix}",
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOADS_DAYS},
    }
    if retention_days:
        body["Expiration"] = {"Days": retention_days}
    return body


def configuration(bucket: Bucket, retention_days: int) -> dict[str, Any]:
    """The lifecycle configuration as S3's JSON (what ``aws s3api put-bucket-lifecycle-configuration`` reads)."""
    return {"Rules": [rule(bucket, retention_days)]}


def merged(existing: list[dict[str, Any]], ours: dict[str, Any]) -> list[dict[str, Any]]:
    """The bucket's rules with ours in place of any earlier version of it, every other rule kept as it was."""
    return [*(other for other in existing if other.get("ID") != ours["ID"]), ours]


@dataclass(frozen=True, slots=True)
class Applied:
    rule: dict[str, Any]  # ours, as the server reads it back
    others_kept: int


def _client(endpoint_url: str | None) -> Any:
    # Imported here: botocore's 30 MB of service models load for this command alone.
    import botocore.session
    from botocore.config import Config

    client_options(endpoint_url)  # the store's own rule: plain http on a loopback endpoint only
    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
        # A custom endpoint (MinIO, SeaweedFS) is addressed by path, as the store's obstore client does.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # The region as obstore reads it (AWS_REGION), then botocore's own variable.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = botocore.session.get_session()
    return session.create_client("s3", region_name=region, endpoint_url=endpoint_url or None, config=config)


def _failure(what: str, error: Exception) -> LifecycleError:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        answer = f"{details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": ")
        return LifecycleError(f"the S3 server refused to {what} (HTTP {status}, {answer})")
    return LifecycleError(f"could not {what}: {error}")


def read_rules(client: Any, bucket: Bucket) -> tuple[list[dict[str, Any]], str | None]:
    """The bucket's rules (none when it has no configuration) and its transition size setting, if it states one."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client.get_bucket_lifecycle_configuration(Bucket=bucket.name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == _NO_CONFIGURATION:
            return [], None
        raise _failure("read the bucket's lifecycle configuration", error) from None
    except BotoCoreError as error:
        raise _failure("read the bucket's lifecycle configuration", error) from None
    return list(answer.get("Rules", [])), answer.get("TransitionDefaultMinimumObjectSize")


def apply(bucket: Bucket, retention_days: int, *, endpoint_url: str | None) -> Applied:
    """Set our rule on the bucket (read, merge, write, read back) and return it as the server now holds it."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client(endpoint_url)
    ours = rule(bucket, retention_days)
    existing, transition_size = read_rules(client, bucket)
    rules = merged(existing, ours)
    arguments: dict[str, Any] = {"Bucket": bucket.name, "LifecycleConfiguration": {"Rules": rules}}
    if transition_size:
        arguments["TransitionDefaultMinimumObjectSize"] = transition_size  # kept as the bucket had it
    try:
        client.put_bucket_lifecycle_configuration(**arguments)
    except (BotoCoreError, ClientError) as error:
        raise _failure("set the bucket's lifecycle configuration", error) from None
    stored = next((found for found in read_rules(client, bucket)[0] if found.get("ID") == ours["ID"]), None)
    if stored is None:
        raise LifecycleError("the S3 server accepted the lifecycle configuration but does not return the rule")
    return Applied(stored, len(rules) - 1)
