"""The capture's own metrics, on the app's registry: counted by the capture code when a record is committed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CaptureMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.captures = Counter(
            "metadock_payload_captures",
            "Payloads captured, by outcome: stored, or dropped (recorded without bytes, e.g. too large).",
            ["outcome"],
            registry=registry,
        )
        self.bytes_stored = Counter(
            "metadock_payload_stored_bytes",
            "Bytes of payloads written to the store by captures.",
            registry=registry,
        )

    def observe(self, *, stored: bool, size: int) -> None:
        self.captures.labels("stored" if stored else "dropped").inc()
        if stored:
            self.bytes_stored.inc(size)
