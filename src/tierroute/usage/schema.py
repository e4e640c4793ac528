"""The usage tables (one row per request, and the clients' feedback on requests), the migrations
that build them, and UsageEvent <-> row.

One schema serves SQLite and PostgreSQL; the only dialect differences are the float type and the
placeholder style, both filled in here so the stores and reports write one SQL text."""

from __future__ import annotations

from typing import Any

import msgspec

from tierroute.types import AttemptRecord, UsageEvent

# (column, type) in insert order; "REAL" becomes DOUBLE PRECISION on PostgreSQL. Booleans are
# stored as 0/1 integers on both, so the same report SQL sums them.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", "TEXT PRIMARY KEY"),
    ("ts", "REAL NOT NULL"),
    ("key_id", "TEXT"),
    ("endpoint", "TEXT NOT NULL"),
    ("requested_model", "TEXT NOT NULL"),
    ("model", "TEXT"),
    ("provider", "TEXT"),
    ("deployment", "TEXT"),
    ("route", "TEXT"),
    ("task", "TEXT"),
    ("complexity", "REAL"),
    ("prompt_tokens", "INTEGER NOT NULL"),
    ("completion_tokens", "INTEGER NOT NULL"),
    ("cost_usd", "REAL NOT NULL"),
    ("baseline_model", "TEXT"),
    ("baseline_cost_usd", "REAL NOT NULL"),
    ("latency_ms", "REAL NOT NULL"),
    ("ttft_ms", "REAL"),
    ("stream", "INTEGER NOT NULL"),
    ("cache", "TEXT NOT NULL"),
    ("cache_similarity", "REAL"),
    ("saved_usd", "REAL NOT NULL"),
    ("attempts", "TEXT NOT NULL"),
    ("fallbacks", "INTEGER NOT NULL"),
    ("escalated", "INTEGER NOT NULL"),
    ("escalation_reason", "TEXT"),
    ("status", "INTEGER NOT NULL"),
    ("error_class", "TEXT"),
    ("content", "TEXT"),
)
# Added by migration 4: the prompt's cache reads and writes apart, and what the request would have
# cost without the provider's cache (for the provider-cache savings).
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("cache_read_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("cache_write_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("nocache_cost_usd", "REAL NOT NULL DEFAULT 0"),
)
BASE_COLUMNS = COLUMNS
COLUMNS = BASE_COLUMNS + ADDED_COLUMNS
COLUMN_NAMES = tuple(c for c, _ in COLUMNS)

# Each migration is a list of statements with {t} (events table), {f} (feedback table) and {real}
# placeholders. A store records the migrations it ran in its version table and runs only newer ones.
MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE IF NOT EXISTS {t} ("
        + ", ".join(f"{c} {ty.replace('REAL', '{real}')}" for c, ty in BASE_COLUMNS)
        + ")",
        "CREATE INDEX IF NOT EXISTS {t}_ts ON {t} (ts)",
        "CREATE INDEX IF NOT EXISTS {t}_task_ts ON {t} (task, ts)",
        "CREATE INDEX IF NOT EXISTS {t}_model_ts ON {t} (model, ts)",
    ],
    [
        # POST /v1/feedback: one row per request (the last feedback wins; `given` counts how often
        # it was given). key_id is the caller's virtual key id, NULL for the master key.
        "CREATE TABLE IF NOT EXISTS {f} (request_id TEXT PRIMARY KEY, ts {real} NOT NULL, key_id TEXT, "
        "score {real} NOT NULL, comment TEXT, given INTEGER NOT NULL DEFAULT 1)",
    ],
    [
        # POST /v1/responses with store: the conversation a response ends (its input and output items),
        # so previous_response_id works whichever vendor answers the next turn. key_id scopes it to
        # its tenant (NULL: the master key); rows past `expires` are deleted by the next writer.
        "CREATE TABLE IF NOT EXISTS {r} (id TEXT PRIMARY KEY, key_id TEXT, ts {real} NOT NULL, "
        "expires {real} NOT NULL, data TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS {r}_expires ON {r} (expires)",
    ],
    [f"ALTER TABLE {{t}} ADD COLUMN {c} {ty.replace('REAL', '{real}')}" for c, ty in ADDED_COLUMNS],
]
SCHEMA_VERSION = len(MIGRATIONS)

_attempts_enc = msgspec.json.Encoder()
_attempts_dec = msgspec.json.Decoder(list[AttemptRecord])


def events_table(prefix: str) -> str:
    return f"{prefix}usage_events"


def feedback_table(prefix: str) -> str:
    return f"{prefix}feedback"


def responses_table(prefix: str) -> str:
    return f"{prefix}responses"


def version_table(prefix: str) -> str:
    return f"{prefix}schema_version"


def migration_sql(prefix: str, dialect: str, index: int) -> list[str]:
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    return [s.format(t=events_table(prefix), f=feedback_table(prefix), r=responses_table(prefix), real=real)
            for s in MIGRATIONS[index]]


def feedback_upsert_sql(prefix: str) -> str:
    """Store one feedback (params: request_id, ts, key_id, score, comment); a later feedback for the
    same request replaces the earlier one. Returns ``given``: 1 for the first, 2 for the second...
    Written with ``?`` placeholders (PostgresStore turns them into ``%s``)."""
    f = feedback_table(prefix)
    return (f"INSERT INTO {f} (request_id, ts, key_id, score, comment, given) VALUES (?, ?, ?, ?, ?, 1) "
            "ON CONFLICT (request_id) DO UPDATE SET ts = excluded.ts, key_id = excluded.key_id, "
            f"score = excluded.score, comment = excluded.comment, given = {f}.given + 1 RETURNING given")


def insert_sql(prefix: str, dialect: str) -> str:
    ph = "%s" if dialect == "postgresql" else "?"
    cols = ", ".join(COLUMN_NAMES)
    vals = ", ".join([ph] * len(COLUMN_NAMES))
    # Replaying a spill file may resend rows that did reach the database: the key makes it idempotent.
    return f"INSERT INTO {events_table(prefix)} ({cols}) VALUES ({vals}) ON CONFLICT (request_id) DO NOTHING"


def to_row(e: UsageEvent, content: str | None = None) -> tuple[Any, ...]:
    return (
        e.request_id, e.ts, e.key_id, e.endpoint, e.requested_model, e.model, e.provider,
        e.deployment, e.route, e.task, e.complexity, e.prompt_tokens, e.completion_tokens,
        e.cost_usd, e.baseline_model, e.baseline_cost_usd, e.latency_ms, e.ttft_ms,
        int(e.stream), e.cache, e.cache_similarity, e.saved_usd,
        _attempts_enc.encode(e.attempts).decode(), e.fallbacks, int(e.escalated),
        e.escalation_reason, e.status, e.error_class, content,
        e.cache_read_tokens, e.cache_write_tokens, e.nocache_cost_usd,
    )  # fmt: skip


def from_row(row: tuple[Any, ...]) -> UsageEvent:
    d = dict(zip(COLUMN_NAMES, row, strict=True))
    d.pop("content")
    d["stream"] = bool(d["stream"])
    d["escalated"] = bool(d["escalated"])
    d["attempts"] = _attempts_dec.decode(d["attempts"])
    return UsageEvent(**d)
