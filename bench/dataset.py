"""The benchmark dataset's shape: its parameters, where it lives, and which tenant, run and step each record has.

Shared by the seeding (``bench.seed``, and ``bench.seed_postgres`` for PostgreSQL's bulk path) and the load
scripts (``bench.scenarios``), so both agree on ids without reading the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"
BATCH = 10_000
RECORDS_PER_RUN = 100
STEPS_PER_RUN = 10
BASE_TIME = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=30)
TYPES = [f"type-{n:02d}" for n in range(20)]
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "amber",
    "bronze",
    "cobalt",
    "denim",
    "ember",
    "frost",
    "garnet",
    "hazel",
    "indigo",
    "jade",
    "khaki",
    "lemon",
    "maroon",
    "navy",
    "olive",
    "pearl",
    "quartz",
    "ruby",
    "sage",
    "teal",
    "umber",
    "violet",
    "wheat",
    "zinc",
]
UUID_SAMPLE = 2_000
UPDATE_POOL = 256


@dataclass(frozen=True)
class SeedParams:
    payloads: int
    metadatas: int
    tenants: int
    database_url: str | None  # None: a SQLite file in the dataset's directory
    store_url: str | None  # None: a file store in the dataset's directory
    sample: int = 2_000
    sample_bytes: int = 1024
    big_bytes: int = 256 * MIB

    @property
    def name(self) -> str:
        name = f"p{self.payloads}-m{self.metadatas}-t{self.tenants}-s{self.sample}-b{self.big_bytes // MIB}m"
        if self.database_url or self.store_url:
            name += "-" + hashlib.sha1(f"{self.database_url}|{self.store_url}".encode()).hexdigest()[:10]
        return name

    @property
    def directory(self) -> Path:
        return BENCH_VAR / self.name

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.directory / 'metadock.db'}"

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"file://{self.directory / 'payloads'}"


def tenant_of(i: int, tenants: int) -> tuple[int, int]:
    """(tenant index, index of the record within its tenant) of the i-th record: tenant 0 gets 9 rows in 10."""
    if tenants == 1:
        return 0, i
    block, slot = divmod(i, 10)
    if slot < 9:
        return 0, block * 9 + slot
    return 1 + block % (tenants - 1), block // (tenants - 1)


def tenant_rows(n: int, tenants: int) -> list[int]:
    counts = [0] * tenants
    for i in range(n):
        counts[tenant_of(i, tenants)[0]] += 1
    return counts


def run_of(t: int, k: int, tenants: int) -> int:
    return (k // RECORDS_PER_RUN) * tenants + t + 1


def payload_bytes(j: int, size: int) -> bytes:
    head = json.dumps({"order": j, "lines": [{"sku": f"SKU-{j}-{n}", "qty": n} for n in range(3)]})
    return (head + " " * max(0, size - len(head)))[:size].encode()


def spread(count: int, total: int) -> Iterator[int]:
    """``count`` indexes spread evenly over ``range(total)``."""
    count = min(count, total)
    for j in range(count):
        yield (j * total) // count


def payload_ids0(manifest: dict[str, Any], count: int) -> list[int]:
    """``count`` ids of tenant-0 records spread over the whole table."""
    params = manifest["params"]
    ids: list[int] = []
    for i in spread(count * 2, params["payloads"]):
        t, _ = tenant_of(i, params["tenants"])
        if t == 0:
            ids.append(i + 1)
    return ids[:count]


PAYLOAD_COLUMNS = (
    "id",
    "tenant_id",
    "flow_run_id",
    "flow_step_id",
    "flow_version_id",
    "flow_log_id",
    "store_key",
    "size",
    "sha256",
    "content_type",
    "dropped",
    "dropped_reason",
    "created_at",
    "updated_at",
    "stored_at",
    "expires_at",
)


def payload_rows(
    start: int, end: int, params: SeedParams, stored: dict[int, dict[str, Any]]
) -> Iterator[tuple[Any, ...]]:
    """Payload records ``start`` to ``end`` (0-based) in ``PAYLOAD_COLUMNS`` order; ``stored`` overrides tenant 0's
    records whose bytes are in the store (by index within the tenant)."""
    step = SPAN / max(1, params.payloads)
    per_step = RECORDS_PER_RUN // STEPS_PER_RUN
    for i in range(start, end):
        t, k = tenant_of(i, params.tenants)
        created = BASE_TIME + step * i
        key, size, sha256, content_type = f"00/00/{i:032x}", params.sample_bytes, None, "application/json"
        if t == 0 and k in stored:
            override = stored[k]
            key, size, sha256 = override["store_key"], override["size"], override["sha256"]
            content_type = override.get("content_type", content_type)
        yield (
            i + 1, t + 1, run_of(t, k, params.tenants), (k % RECORDS_PER_RUN) // per_step + 1, t % 3 + 1, i + 1,
            key, size, sha256, content_type, False, None, created, created, created, None,
        )  # fmt: skip
