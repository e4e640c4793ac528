"""The in-process store: the local index is the cache; SQLite (optional) keeps it across restarts.

SQLite work runs on a worker thread so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from .entry import CacheEntry, decode_entry, encode_entry
from .local_index import LocalIndex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_entries (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    expires_at REAL NOT NULL,
    blob BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_entries_expiry ON cache_entries (expires_at);
"""


class MemoryStore:
    kind = "memory"

    def __init__(self, local: LocalIndex, sqlite_path: str | None = None) -> None:
        self.local = local
        self._path = sqlite_path
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._puts = 0

    # ------------------------------------------------------------------ SQLite, on a worker thread

    def _open_and_load(self) -> list[CacheEntry]:
        assert self._path is not None
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        now = time.time()
        db.execute("DELETE FROM cache_entries WHERE expires_at <= ?", (now,))
        rows = db.execute("SELECT blob FROM cache_entries ORDER BY rowid").fetchall()
        self._db = db
        return [decode_entry(r[0]) for r in rows]

    def _write(self, put: CacheEntry | None, delete: list[str]) -> None:
        with self._db_lock:
            if self._db is None:
                return
            if delete:
                self._db.executemany("DELETE FROM cache_entries WHERE id = ?", [(i,) for i in delete])
            if put is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO cache_entries (id, tenant, model, expires_at, blob) VALUES (?,?,?,?,?)",
                    (put.id, put.tenant, put.model, put.expires_at, encode_entry(put)),
                )

    # ------------------------------------------------------------------ the store interface

    async def start(self) -> None:
        if self._path:
            for e in await asyncio.to_thread(self._open_and_load):
                evicted = self.local.add(e)
                if evicted:
                    await asyncio.to_thread(self._write, None, evicted)

    async def sync(self) -> None:
        """Nothing to catch up with: this process is the only writer."""

    async def verify(self, e: CacheEntry) -> CacheEntry | None:
        return e if e.expires_at > time.time() else None

    async def put(self, e: CacheEntry) -> list[str]:
        replaced = self.local.entries.get(self.local.exact_id(e.exact_key) or "")
        evicted = self.local.add(e)
        self._puts += 1
        # Expired entries are dropped on lookup; a periodic sweep catches the ones nobody asks for.
        if self._puts % 1000 == 0:
            for eid in self.local.expired(time.time()):
                self.local.remove(eid)
                evicted.append(eid)
        if self._db is not None:
            gone = evicted + ([replaced.id] if replaced is not None and replaced.id != e.id else [])
            await asyncio.to_thread(self._write, e, gone)
        return evicted

    async def remove(self, ids: list[str]) -> None:
        for i in ids:
            self.local.remove(i)
        if self._db is not None and ids:
            await asyncio.to_thread(self._write, None, ids)

    async def purge(self, tenant: str | None, model: str | None) -> int:
        ids = self.local.matching(tenant, model)
        await self.remove(ids)
        return len(ids)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
