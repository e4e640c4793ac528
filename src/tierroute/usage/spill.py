"""The spill file: where usage events go when the queue is full or the database cannot take them,
and where the flusher replays them from once it can.

Events are appended as JSON lines to ``spill.jsonl``. Replay first renames that file to
``replay-<n>.jsonl`` (so new spills start a fresh file and never race the reader), writes it to
the store in batches, and deletes it only after every batch committed. The store's insert ignores
request ids it already holds, so replaying a file twice after a crash is harmless."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from tierroute.types import UsageEvent


class SpillLine(msgspec.Struct):
    event: UsageEvent
    content: str | None = None


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(SpillLine)


class SpillFile:
    def __init__(self, directory: str) -> None:
        self.dir = Path(directory)
        self.current = self.dir / "spill.jsonl"
        self._lock = threading.Lock()
        self._seq = 0

    def append(self, items: list[tuple[UsageEvent, str | None]]) -> None:
        """Blocking: call from a worker thread."""
        if not items:
            return
        data = b"".join(_enc.encode(SpillLine(e, c)) + b"\n" for e, c in items)
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.current, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())

    def claim(self) -> list[Path]:
        """Move the live file aside and return every file waiting for replay, oldest first."""
        with self._lock:
            if self.current.exists() and self.current.stat().st_size > 0:
                self._seq += 1
                self.current.rename(self.dir / f"replay-{time.time_ns()}-{self._seq}.jsonl")
            if not self.dir.exists():
                return []
            return sorted(self.dir.glob("replay-*.jsonl"))

    def pending(self) -> bool:
        if not self.dir.exists():
            return False
        if self.current.exists() and self.current.stat().st_size > 0:
            return True
        return any(self.dir.glob("replay-*.jsonl"))

    def count_pending(self) -> int:
        if not self.dir.exists():
            return 0
        n = 0
        for p in [self.current, *self.dir.glob("replay-*.jsonl")]:
            if p.exists():
                with open(p, "rb") as f:
                    n += sum(1 for line in f if line.strip())
        return n

    @staticmethod
    def read(path: Path, batch_size: int) -> Iterator[list[tuple[UsageEvent, str | None]]]:
        batch: list[tuple[UsageEvent, str | None]] = []
        with open(path, "rb") as f:
            for raw in f:
                if not raw.strip():
                    continue
                try:
                    line = _dec.decode(raw)
                except msgspec.DecodeError:
                    # A torn last line from a crash mid-write; everything before it is intact.
                    continue
                batch.append((line.event, line.content))
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch
