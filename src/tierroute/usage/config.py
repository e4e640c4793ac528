"""The ``usage:`` section of config/tierroute.yaml."""

from __future__ import annotations

import msgspec


class UsageConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where and how usage records are kept.

    ``database_url`` set to a ``postgresql://`` URL stores in PostgreSQL; left empty, records go to
    the SQLite file ``sqlite_path``. Prometheus metrics are kept even when ``enabled`` is false
    (then only the store is off)."""

    enabled: bool = True
    database_url: str | None = None
    sqlite_path: str = "tierroute-usage.db"
    # Tables are named "<table_prefix>usage_events" etc., so several deployments (or test runs) can
    # share one database.
    table_prefix: str = ""
    batch_size: int = msgspec.field(default=500)
    flush_interval_s: float = 1.0
    queue_max: int = 50_000
    # Beyond queue_max, events go to the spill file; beyond this many awaiting the spill writer
    # they are dropped (and counted), so memory stays bounded even if the disk stalls too.
    overflow_max: int = 200_000
    spill_dir: str = "tierroute-spill"
    # Keep the prompt and answer with each record (off: never stored). The savings baseline is the
    # top-level `baseline_model` in tierroute.yaml, read by the gateway, not repeated here.
    log_content: bool = False
    # Per-key Prometheus labels can explode in cardinality; off means key="" on every series.
    metrics_by_key: bool = True
    connect_timeout_s: float = 3.0
    # How long a stored Responses answer (POST /v1/responses with store) can be continued with
    # previous_response_id or read back with GET /v1/responses/{id}; OpenAI keeps them 30 days.
    responses_ttl_s: float = 30 * 86400

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("usage.batch_size must be >= 1")
        if self.flush_interval_s <= 0:
            raise ValueError("usage.flush_interval_s must be > 0")
        if self.queue_max < 1:
            raise ValueError("usage.queue_max must be >= 1")
        if self.table_prefix and not self.table_prefix.replace("_", "").isalnum():
            raise ValueError("usage.table_prefix may hold only letters, digits and '_'")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "usage.database_url must be a postgresql:// URL (leave it empty to use SQLite at usage.sqlite_path)"
            )
