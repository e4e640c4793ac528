"""Usage store on PostgreSQL (psycopg 3, async). Reconnects after any failure, so a database that
went away and came back is picked up by the next write without a restart."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from tierroute.usage import schema


class PostgresStore:
    dialect = "postgresql"

    def __init__(self, url: str, prefix: str = "", connect_timeout_s: float = 3.0) -> None:
        self.url = url
        self.prefix = prefix
        self.table = schema.events_table(prefix)
        self.feedback_table = schema.feedback_table(prefix)
        self.responses_table = schema.responses_table(prefix)
        self.connect_timeout_s = connect_timeout_s
        # Names our sessions in pg_stat_activity (and lets an operator or a test find them).
        self.application_name = ("tierroute-usage-" + prefix.rstrip("_") if prefix else "tierroute-usage")[
            :63
        ]
        self._cols = ", ".join(schema.COLUMN_NAMES)
        self._incoming = f"{prefix}usage_incoming"
        # Writes and reads use separate connections so a slow report never holds up the flusher.
        self._wconn: psycopg.AsyncConnection[Any] | None = None
        self._rconn: psycopg.AsyncConnection[Any] | None = None
        self._rlock = asyncio.Lock()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self.url,
            connect_timeout=max(1, int(self.connect_timeout_s)),
            autocommit=False,
            application_name=self.application_name,
        )

    async def _writer(self) -> psycopg.AsyncConnection[Any]:
        if self._wconn is None or self._wconn.closed:
            self._wconn = await self._connect()
        return self._wconn

    async def open(self) -> None:
        conn = await self._writer()
        vt = schema.version_table(self.prefix)
        async with conn.transaction():
            # Two instances starting together must not both run a migration.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (vt,))
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {vt} (version INTEGER NOT NULL)")
            cur = await conn.execute(f"SELECT MAX(version) FROM {vt}")
            row = await cur.fetchone()
            current = (row[0] if row else None) or 0
            for i in range(current, schema.SCHEMA_VERSION):
                for stmt in schema.migration_sql(self.prefix, self.dialect, i):
                    await conn.execute(stmt)
                await conn.execute(f"INSERT INTO {vt} (version) VALUES (%s)", (i + 1,))

    async def _drop(self, conn: psycopg.AsyncConnection[Any] | None) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        # COPY into a session temp table, then one INSERT .. SELECT: several times faster than
        # row-by-row inserts, and ON CONFLICT still makes a replayed batch idempotent.
        try:
            conn = await self._writer()
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {self._incoming} (LIKE {self.table}) ON COMMIT DELETE ROWS"
                )
                async with cur.copy(f"COPY {self._incoming} ({self._cols}) FROM STDIN") as copy:
                    for row in rows:
                        await copy.write_row(row)
                await cur.execute(
                    f"INSERT INTO {self.table} ({self._cols}) SELECT {self._cols} FROM {self._incoming} "
                    "ON CONFLICT (request_id) DO NOTHING"
                )
        except Exception:
            await self._drop(self._wconn)
            self._wconn = None
            raise

    async def _reading(self, sql: str, params: tuple[Any, ...]) -> psycopg.AsyncCursor[Any]:
        """Run one statement on the autocommit reader connection (opened again after any failure)."""
        try:
            if self._rconn is None or self._rconn.closed:
                self._rconn = await psycopg.AsyncConnection.connect(
                    self.url,
                    connect_timeout=max(1, int(self.connect_timeout_s)),
                    autocommit=True,
                    application_name=self.application_name,
                )
            return await self._rconn.execute(sql.replace("?", "%s"), params)
        except Exception:
            await self._drop(self._rconn)
            self._rconn = None
            raise

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._rlock:
            cur = await self._reading(sql, params)
            return await cur.fetchall()

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write statement (autocommit); returns the rows it touched."""
        async with self._rlock:
            return (await self._reading(sql, params)).rowcount

    async def put_feedback(self, request_id: str, ts: float, key_id: str | None, score: float,
                           comment: str | None) -> int:
        """Store (or replace) the feedback on one request; returns how many times it was given. One
        statement on the autocommit reader connection: the writer's batches are left alone."""
        rows = await self.query(schema.feedback_upsert_sql(self.prefix), (request_id, ts, key_id, score, comment))
        return int(rows[0][0])

    async def ping(self) -> bool:
        try:
            await self.query("SELECT 1")
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self._drop(self._wconn)
        await self._drop(self._rconn)
        self._wconn = self._rconn = None
