"""Build a recorder (and its store) from the ``usage:`` config."""

from __future__ import annotations

from tierroute.usage.config import UsageConfig
from tierroute.usage.metrics import UsageMetrics, default_metrics
from tierroute.usage.recorder import UsageRecorder, UsageStore
from tierroute.usage.store_postgres import PostgresStore
from tierroute.usage.store_sqlite import SQLiteStore


def build_store(cfg: UsageConfig) -> UsageStore:
    if cfg.database_url:
        return PostgresStore(cfg.database_url, cfg.table_prefix, cfg.connect_timeout_s)
    return SQLiteStore(cfg.sqlite_path, cfg.table_prefix)


def build_recorder(cfg: UsageConfig, metrics: UsageMetrics | None = None) -> UsageRecorder:
    """A recorder for ``cfg``; call ``await recorder.start()`` once the event loop runs."""
    store = build_store(cfg) if cfg.enabled else None
    if metrics is None:
        metrics = default_metrics  # the registry /metrics serves
        metrics.by_key = cfg.metrics_by_key
    return UsageRecorder(cfg, store, metrics)
