"""Stored Responses: what ``previous_response_id``, ``GET`` and ``DELETE /v1/responses/{id}`` read.

Each stored response keeps the conversation it ends (the input items it was given, previous turns
expanded, and its output items) and the Response object itself, in the usage store's ``responses``
table (SQLite or PostgreSQL), for ``usage.responses_ttl_s``. A response belongs to the key that made
it: another tenant's id reads exactly like an unknown one.

Writes happen off the request path; until one lands, the entry waits in ``_pending``, which every
read checks first, so a client may continue a conversation the moment its answer ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec

from tierroute.usage.recorder import UsageStore

log = logging.getLogger("tierroute.usage")
_encode = msgspec.json.encode
_decode = msgspec.json.decode
_PURGE_EVERY_S = 3600.0


class ResponseStore:
    def __init__(self, store: UsageStore | None, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._pending: dict[str, tuple[str | None, float, dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._purged_at = 0.0

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def put(self, rid: str, key_id: str | None, data: dict[str, Any]) -> None:
        """Keep ``data`` (``{"input": [...], "output": [...], "response": {...}}``) under ``rid``."""
        if self.store is None:
            return
        expires = time.time() + self.ttl_s
        self._pending[rid] = (key_id, expires, data)
        task = asyncio.create_task(self._write(rid, key_id, expires, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, rid: str, key_id: str | None, expires: float, data: dict[str, Any]) -> None:
        assert self.store is not None
        table = self.store.responses_table
        try:
            await self.store.execute(
                f"INSERT INTO {table} (id, key_id, ts, expires, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, ts = excluded.ts, "
                "expires = excluded.expires, data = excluded.data",
                (rid, key_id, time.time(), expires, _encode(data).decode()))
            now = time.time()
            if now - self._purged_at > _PURGE_EVERY_S:
                self._purged_at = now
                await self.store.execute(f"DELETE FROM {table} WHERE expires < ?", (now,))
        except Exception as exc:  # the answer was sent; only its continuation is lost, and logged
            log.warning("could not store response %s: %s", rid, exc)
        finally:
            if self._pending.get(rid, (None, expires))[1] == expires:
                self._pending.pop(rid, None)

    async def get(self, rid: str, key_id: str | None) -> dict[str, Any] | None:
        """The stored data, or None when unknown, expired or another tenant's. Raises when the store
        is down (the caller answers 503)."""
        if self.store is None:
            return None
        found = self._pending.get(rid)
        if found is None:
            rows = await self.store.query(
                f"SELECT key_id, expires, data FROM {self.store.responses_table} WHERE id = ?", (rid,))
            if not rows:
                return None
            found = (rows[0][0], float(rows[0][1]), _decode(rows[0][2]))
        owner, expires, data = found
        if expires < time.time() or (key_id is not None and owner != key_id):
            return None
        return data

    async def delete(self, rid: str, key_id: str | None) -> bool:
        if self.store is None or await self.get(rid, key_id) is None:
            return False
        self._pending.pop(rid, None)
        await self.store.execute(f"DELETE FROM {self.store.responses_table} WHERE id = ?", (rid,))
        return True

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
