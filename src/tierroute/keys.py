"""Virtual keys: one per team or agent, each with its own budget, routing preference and cache
switch, so usage, caches and spend are kept apart per tenant.

A key is shown once when created (``tr-`` + 40 hex digits); only its SHA-256 is stored, in a SQLite
file (``keys.path``). The gateway reads the file at start and again whenever it changes, so keys made
or revoked with ``tierroute keys`` take effect without a restart.

Budgets count the cost of every answered request in the current day or month (UTC) in this process,
starting from what the usage store recorded earlier in the period; with several instances, each
enforces the budget on its own view (the usage store holds the exact total).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created REAL NOT NULL,
  revoked REAL,
  budget_usd REAL,
  budget_period TEXT NOT NULL DEFAULT 'month',
  willingness_to_pay REAL,
  cache INTEGER NOT NULL DEFAULT 1,
  models TEXT
)
"""

# Every column, in the order KeyStore._row reads them.
_SELECT = ("SELECT id, name, hash, created, revoked, budget_usd, budget_period, willingness_to_pay, cache, models"
           " FROM keys")


class KeysConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # SQLite file holding virtual keys (hashed). Created on first `tierroute keys create`.
    path: str = ".tierroute/keys.db"


class KeyInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created: float
    revoked: float | None = None
    budget_usd: float | None = None
    budget_period: str = "month"  # day | month
    willingness_to_pay: float | None = None
    cache: bool = True
    models: list[str] | None = None  # allowed models / aliases / tiers; None = all


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def period_start(period: str, now: float | None = None) -> float:
    t = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
    return start.timestamp()


class KeyStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._by_hash: dict[str, KeyInfo] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._spend: dict[str, tuple[float, float]] = {}  # key id -> (period start, spent usd)

    # ------------------------------------------------------------------ admin (CLI)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        db.execute(SCHEMA)
        return db

    def create(self, name: str, *, budget_usd: float | None = None, budget_period: str = "month",
               willingness_to_pay: float | None = None, cache: bool = True,
               models: list[str] | None = None) -> tuple[str, KeyInfo]:
        key = "tr-" + os.urandom(20).hex()
        info = KeyInfo(id="key_" + os.urandom(6).hex(), name=name, created=time.time(), budget_usd=budget_usd,
                       budget_period=budget_period, willingness_to_pay=willingness_to_pay, cache=cache,
                       models=models)
        with self._connect() as db:
            db.execute("INSERT INTO keys (id, name, hash, created, budget_usd, budget_period, willingness_to_pay,"
                       " cache, models) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (info.id, name, hash_key(key), info.created, budget_usd, budget_period, willingness_to_pay,
                        int(cache), ",".join(models) if models else None))
        return key, info

    def revoke(self, key_id: str) -> bool:
        with self._connect() as db:
            cur = db.execute("UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id))
            return cur.rowcount == 1

    def list(self) -> list[KeyInfo]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            return [self._row(r)[1] for r in db.execute(_SELECT + " ORDER BY created")]

    @staticmethod
    def _row(r: tuple) -> tuple[str, KeyInfo]:  # type: ignore[type-arg]
        """A row of ``_SELECT`` -> (hash, key)."""
        return r[2], KeyInfo(id=r[0], name=r[1], created=r[3], revoked=r[4], budget_usd=r[5], budget_period=r[6],
                             willingness_to_pay=r[7], cache=bool(r[8]), models=r[9].split(",") if r[9] else None)

    # ------------------------------------------------------------------ the gateway's side

    def lookup(self, key: str) -> KeyInfo | None:
        """The live key presented, or None. Re-reads the file when it changed (checked every 2 s, and on
        every unknown key, so a new key works at once and a revoked one stops within 2 s)."""
        now = time.monotonic()
        if now - self._checked > 2.0:
            self._checked = now
            self._reload()
        info = self._by_hash.get(hash_key(key))
        if info is None:  # a key made seconds ago: one stat() tells whether the file changed
            self._reload()
            info = self._by_hash.get(hash_key(key))
        return None if info is None or info.revoked is not None else info

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._by_hash = {}
            return
        if mtime == self._mtime:
            return
        with self._lock, self._connect() as db:
            rows = db.execute(_SELECT).fetchall()
            self._by_hash = dict(self._row(r) for r in rows)
            self._mtime = mtime

    def seed_spend(self, key_id: str, spent_usd: float, period: str) -> None:
        self._spend[key_id] = (period_start(period), spent_usd)

    def spent(self, info: KeyInfo) -> float:
        start = period_start(info.budget_period)
        began, usd = self._spend.get(info.id, (start, 0.0))
        return usd if began == start else 0.0

    def add_spend(self, key_id: str, period: str, usd: float) -> None:
        start = period_start(period)
        began, total = self._spend.get(key_id, (start, 0.0))
        self._spend[key_id] = (start, (total if began == start else 0.0) + usd)
