"""One cached answer as it is kept in memory, in SQLite and in Redis."""

from __future__ import annotations

import msgspec
import numpy as np


class CacheEntry(msgspec.Struct, kw_only=True, array_like=True):
    id: str
    partition: str  # hash of everything that must match exactly (see keys.partition_key)
    exact_key: str
    tenant: str
    model: str  # the catalog model that produced the answer
    text: str | None  # the user turn the semantic layer compares against; None = exact only
    vector: bytes | None  # float32 embedding of `text`
    created: float  # unix seconds
    expires_at: float  # unix seconds; fixed at store time, never extended by a hit
    response: bytes  # the ChatResponse, JSON
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def vec(self) -> np.ndarray | None:
        return None if self.vector is None else np.frombuffer(self.vector, dtype=np.float32)


encode_entry = msgspec.msgpack.Encoder().encode
decode_entry = msgspec.msgpack.Decoder(CacheEntry).decode
