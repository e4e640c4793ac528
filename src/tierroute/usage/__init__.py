"""Usage accounting: a record per request, stores (SQLite / PostgreSQL), Prometheus metrics,
reports, the dashboard and the cost calculator."""

from tierroute.usage.admin import admin_routes, ui_routes
from tierroute.usage.build import build_recorder, build_store
from tierroute.usage.cli import usage_cli
from tierroute.usage.config import UsageConfig
from tierroute.usage.metrics import UsageMetrics, default_metrics, make_metrics_handler, metrics_handler
from tierroute.usage.recorder import UsageRecorder

__all__ = [
    "UsageConfig",
    "UsageMetrics",
    "UsageRecorder",
    "admin_routes",
    "build_recorder",
    "build_store",
    "default_metrics",
    "make_metrics_handler",
    "metrics_handler",
    "ui_routes",
    "usage_cli",
]
