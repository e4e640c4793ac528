"""The usage recorder: ``record()`` appends to an in-memory queue; a background task writes batches
to the store, feeds the Prometheus metrics, spills to a local file when the store cannot keep up
or is down, and replays the spill once it is back.

No event is lost without being counted: each one ends up written, spilled (and later replayed), or
counted in ``tierroute_usage_dropped_total`` (only if the spill file itself cannot be written)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from tierroute.types import UsageEvent
from tierroute.usage import schema
from tierroute.usage.config import UsageConfig
from tierroute.usage.metrics import UsageMetrics, default_metrics
from tierroute.usage.spill import SpillFile

log = logging.getLogger("tierroute.usage")

Item = tuple[UsageEvent, str | None]


class UsageStore(Protocol):
    dialect: str
    table: str
    feedback_table: str
    responses_table: str

    async def open(self) -> None: ...
    async def write(self, rows: list[tuple[Any, ...]]) -> None: ...
    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...
    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...
    async def put_feedback(self, request_id: str, ts: float, key_id: str | None, score: float,
                           comment: str | None) -> int: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class UsageRecorder:
    def __init__(
        self, cfg: UsageConfig, store: UsageStore | None, metrics: UsageMetrics | None = None
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.metrics = metrics or default_metrics
        self.spill = SpillFile(cfg.spill_dir)
        self._queue: deque[Item] = deque()
        self._overflow: deque[Item] = deque()
        self._wake = asyncio.Event()
        # One writer at a time: the flusher, flush() from a report, and close() all write batches
        # and replay spill files, which must not interleave on one database connection or file.
        self._io_lock = asyncio.Lock()
        self._spill_wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._spiller: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._store_ok = False
        self._opened = False
        self._next_retry = 0.0
        self._retry_s = 0.5
        self.counts = {"recorded": 0, "written": 0, "spilled": 0, "replayed": 0, "dropped": 0}

    # ------------------------------------------------------------------ hot path

    def record(self, event: UsageEvent, content: str | None = None) -> None:
        """Queue one finished request. Never blocks, never raises. ``content`` (prompt and answer,
        JSON) is kept only when ``usage.log_content`` is on."""
        try:
            item = (event, content if self.cfg.log_content else None)
            self.counts["recorded"] += 1
            if self._closed:
                self._spill_late(item)
                return
            if len(self._queue) < self.cfg.queue_max:
                self._queue.append(item)
                if len(self._queue) >= self.cfg.batch_size and not self._wake.is_set():
                    self._wake.set()
            elif len(self._overflow) < self.cfg.overflow_max:
                self._overflow.append(item)
                if not self._spill_wake.is_set():
                    self._spill_wake.set()
            else:
                self.counts["dropped"] += 1
                self.metrics.dropped.inc()
        except Exception:  # pragma: no cover - a broken recorder must not fail a request
            log.exception("usage record failed")

    def _spill_late(self, item: Item) -> None:
        # A request that finished after close(): no flusher is left, so write it to the spill file
        # now (blocking, but only ever during shutdown); the next start replays it.
        try:
            self.spill.append([item])
            self.counts["spilled"] += 1
            self.metrics.spilled.labels("after_close").inc()
        except Exception:
            self.counts["dropped"] += 1
            self.metrics.dropped.inc()
            log.exception("usage spill failed; 1 record lost")

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._flusher is not None:
            return
        if self.store is not None:
            await self._try_open()
        self.metrics.spill_pending.set(await asyncio.to_thread(self.spill.count_pending))
        self._flusher = asyncio.create_task(self._flush_loop(), name="usage-flusher")
        self._spiller = asyncio.create_task(self._spill_loop(), name="usage-spiller")

    async def close(self) -> None:
        """Write everything queued (to the store, or to the spill file if the store is down)."""
        self._closing = True
        self._wake.set()
        self._spill_wake.set()
        for t in (self._flusher, self._spiller):
            if t is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        self._flusher = self._spiller = None
        await self._drain_overflow()
        async with self._io_lock:
            while self._queue:
                await self._flush_batch()
            # Whatever was spilled goes in now if the store is up; if not, it stays on disk for the
            # next start, which replays it.
            with contextlib.suppress(Exception):
                await self._maybe_replay(force=True)
        self.metrics.queue_depth.set(0)
        self._closed = True
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.store.close()

    def stats(self) -> dict[str, Any]:
        return {
            **self.counts,
            "queue": len(self._queue),
            "overflow": len(self._overflow),
            "store": self.store.dialect if self.store else None,
            "store_ok": self._store_ok,
            "spill_pending": self.spill.pending(),
        }

    async def ready(self) -> bool:
        if self.store is None:
            return True
        return self._store_ok and await self.store.ping()

    async def flush(self) -> None:
        """Write everything queued now, and replay any spill if the store is up (tests, shutdown)."""
        await self._drain_overflow()
        async with self._io_lock:
            while self._queue:
                await self._flush_batch()
            await self._maybe_replay(force=True)

    # ------------------------------------------------------------------ background

    async def _try_open(self) -> bool:
        assert self.store is not None
        try:
            if not self._opened:
                await self.store.open()
                self._opened = True
            self._set_store_ok(True)
        except Exception as exc:
            self._set_store_ok(False)
            log.warning("usage store unavailable (%s); spilling to %s", type(exc).__name__, self.spill.dir)
        return self._store_ok

    def _set_store_ok(self, ok: bool) -> None:
        self._store_ok = ok
        self.metrics.store_up.set(1 if ok else 0)
        if ok:
            self._retry_s = 0.5
        else:
            self._next_retry = time.monotonic() + self._retry_s
            self._retry_s = min(self._retry_s * 2, 10.0)

    async def _flush_loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.cfg.flush_interval_s)
            self._wake.clear()
            try:
                async with self._io_lock:
                    while self._queue and not self._closing:
                        await self._flush_batch()
                        if len(self._queue) < self.cfg.batch_size:
                            break
                    await self._maybe_replay()
            except Exception:  # keep the flusher alive whatever happens
                log.exception("usage flusher error")
            self.metrics.queue_depth.set(len(self._queue))

    async def _spill_loop(self) -> None:
        while not self._closing:
            await self._spill_wake.wait()
            self._spill_wake.clear()
            await self._drain_overflow()

    async def _drain_overflow(self) -> None:
        while self._overflow:
            items = [self._overflow.popleft() for _ in range(min(len(self._overflow), 5000))]
            await self._observe(items)
            await self._spill(items, "queue_full")

    async def _observe(self, items: list[Item]) -> None:
        # On the loop in slices of 100 (about 0.5 ms each), yielding between them: a worker thread
        # would hold the GIL for up to the 5 ms switch interval and stall requests for longer.
        for i in range(0, len(items), 100):
            self.metrics.observe(e for e, _ in items[i : i + 100])
            await asyncio.sleep(0)

    async def _spill(self, items: list[Item], reason: str) -> None:
        try:
            await asyncio.to_thread(self.spill.append, items)
            self.counts["spilled"] += len(items)
            self.metrics.spilled.labels(reason).inc(len(items))
            self.metrics.spill_pending.inc(len(items))
        except Exception:
            self.counts["dropped"] += len(items)
            self.metrics.dropped.inc(len(items))
            log.exception("usage spill failed; %d records lost", len(items))

    async def _flush_batch(self) -> None:
        n = min(len(self._queue), self.cfg.batch_size)
        items = [self._queue.popleft() for _ in range(n)]
        if not items:
            return
        await self._observe(items)
        if self.store is None:
            return
        if await self._write(items):
            return
        await self._spill(items, "store_down")

    async def _write(self, items: list[Item]) -> bool:
        assert self.store is not None
        if not self._store_ok and time.monotonic() < self._next_retry:
            return False
        if not self._opened and not await self._try_open():
            return False
        t0 = time.perf_counter()
        try:
            await self.store.write([schema.to_row(e, c) for e, c in items])
        except Exception as exc:
            if self._store_ok:
                log.warning("usage store write failed (%s); spilling", type(exc).__name__)
            self._set_store_ok(False)
            return False
        self.metrics.flush_seconds.observe(time.perf_counter() - t0)
        self.metrics.written.inc(len(items))
        self.counts["written"] += len(items)
        self._set_store_ok(True)
        return True

    async def _maybe_replay(self, force: bool = False) -> None:
        if self.store is None or not await asyncio.to_thread(self.spill.pending):
            return
        if not self._store_ok and not force and time.monotonic() < self._next_retry:
            return
        if not self._opened and not await self._try_open():
            return
        try:
            for path in await asyncio.to_thread(self.spill.claim):
                if not await self._replay_file(path):
                    return  # the file stays; the next replay starts it over (inserts are idempotent)
        finally:
            self.metrics.spill_pending.set(await asyncio.to_thread(self.spill.count_pending))

    async def _replay_file(self, path: Path) -> bool:
        assert self.store is not None
        batches = self.spill.read(path, self.cfg.batch_size)
        try:
            while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                try:
                    await self.store.write([schema.to_row(e, c) for e, c in batch])
                except Exception:
                    self._set_store_ok(False)
                    return False
                self._set_store_ok(True)
                self.counts["replayed"] += len(batch)
                self.metrics.replayed.inc(len(batch))
        finally:
            batches.close()
        await asyncio.to_thread(path.unlink)
        return True
