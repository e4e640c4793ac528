"""Usage store on a SQLite file (WAL), written from one worker thread so the event loop never waits."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tierroute.usage import schema


class SQLiteStore:
    dialect = "sqlite"

    def __init__(self, path: str, prefix: str = "") -> None:
        self.path = path
        self.prefix = prefix
        self.table = schema.events_table(prefix)
        self.feedback_table = schema.feedback_table(prefix)
        self.responses_table = schema.responses_table(prefix)
        self._insert = schema.insert_sql(prefix, self.dialect)
        # One thread owns the connection: sqlite3 objects must not be shared across threads freely,
        # and serialising writes avoids SQLITE_BUSY between our own writers.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _open_sync(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        vt = schema.version_table(self.prefix)
        with conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {vt} (version INTEGER NOT NULL)")
            row = conn.execute(f"SELECT MAX(version) FROM {vt}").fetchone()
            current = row[0] or 0
            for i in range(current, schema.SCHEMA_VERSION):
                for stmt in schema.migration_sql(self.prefix, self.dialect, i):
                    conn.execute(stmt)
                conn.execute(f"INSERT INTO {vt} (version) VALUES (?)", (i + 1,))
        self._conn = conn

    async def open(self) -> None:
        await self._run(self._open_sync)

    def _write_sync(self, rows: list[tuple[Any, ...]]) -> None:
        assert self._conn is not None
        with self._conn:
            self._conn.executemany(self._insert, rows)

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        await self._run(self._write_sync, rows)

    def _feedback_sync(self, params: tuple[Any, ...]) -> int:
        assert self._conn is not None
        with self._conn:
            return int(self._conn.execute(schema.feedback_upsert_sql(self.prefix), params).fetchone()[0])

    async def put_feedback(self, request_id: str, ts: float, key_id: str | None, score: float,
                           comment: str | None) -> int:
        """Store (or replace) the feedback on one request; returns how many times it was given."""
        return await self._run(self._feedback_sync, (request_id, ts, key_id, score, comment))

    def _execute_sync(self, sql: str, params: tuple[Any, ...]) -> int:
        assert self._conn is not None
        with self._conn:
            return self._conn.execute(sql, params).rowcount

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write statement, committed; returns the rows it touched."""
        return int(await self._run(self._execute_sync, sql, params))

    def _query_sync(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        return self._conn.execute(sql, params).fetchall()

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await self._run(self._query_sync, sql, params)

    async def ping(self) -> bool:
        try:
            await self.query("SELECT 1")
            return True
        except Exception:
            return False

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        await self._run(self._close_sync)
        self._pool.shutdown(wait=True)
