"""Reading labelled question pairs ({"id", "q1", "q2", "duplicate"}) from .jsonl or .jsonl.gz."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import msgspec


class Pair(msgspec.Struct):
    id: str
    q1: str
    q2: str
    duplicate: bool


def read_pairs(path: str | Path) -> list[Pair]:
    p = Path(path)
    opener = gzip.open if p.name.endswith(".gz") else open
    dec = msgspec.json.Decoder(Pair)
    out = []
    with opener(p, "rb") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(dec.decode(line))
                except msgspec.DecodeError as exc:  # malformed JSON or a missing / mistyped field
                    raise ValueError(f"{p}:{n}: not a pair ({exc}); expected "
                                     '{"id": ..., "q1": ..., "q2": ..., "duplicate": true|false}') from exc
    return out


def split_of(pair_id: str) -> str:
    """A stable half split by id: "tune" or "rest"."""
    return "tune" if hashlib.blake2b(pair_id.encode(), digest_size=2).digest()[0] % 2 == 0 else "rest"
