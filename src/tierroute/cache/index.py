"""Nearest-neighbour search over the cached user turns of one partition, in memory.

Vectors are L2-normalised, so cosine similarity is a dot product. Small partitions are scanned
exactly. Large ones (a dot product over 100,000 x 384 floats reads 150 MB and takes ~10 ms) are
first narrowed by Hamming distance between sign bits (48 bytes per entry, so the scan reads 5 MB),
then the best few hundred are re-scored exactly. Only close neighbours matter to a cache, and for
those the sign-bit ranking keeps the true nearest one almost always.
"""

from __future__ import annotations

import numpy as np

EXACT_SCAN_MAX = 4096
RERANK = 512


def sign_bits(vecs: np.ndarray) -> np.ndarray:
    """(n, d) float -> (n, d/64) uint64 of sign bits."""
    packed = np.packbits(vecs > 0, axis=1)
    return packed.view(np.uint64) if packed.shape[1] % 8 == 0 else np.ascontiguousarray(
        np.pad(packed, ((0, 0), (0, (-packed.shape[1]) % 8)))).view(np.uint64)


class VectorIndex:
    """Growable arrays of vectors and their entry ids; removal swaps the last row into the hole."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vecs = np.zeros((16, dim), dtype=np.float32)
        # Sign bits stored word-major (words, capacity): XOR-and-popcount runs over long contiguous rows.
        self._bits = np.zeros(((dim + 63) // 64, 16), dtype=np.uint64)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, entry_id: str, vec: np.ndarray) -> None:
        if entry_id in self._row:
            self._vecs[self._row[entry_id]] = vec
            self._bits[:, self._row[entry_id]] = sign_bits(vec[None, :])[0]
            return
        n = len(self._ids)
        if n == len(self._vecs):
            self._vecs = np.concatenate([self._vecs, np.zeros_like(self._vecs)])
            self._bits = np.concatenate([self._bits, np.zeros_like(self._bits)], axis=1)
        self._vecs[n] = vec
        self._bits[:, n] = sign_bits(vec[None, :])[0]
        self._ids.append(entry_id)
        self._row[entry_id] = n

    def remove(self, entry_id: str) -> None:
        row = self._row.pop(entry_id, None)
        if row is None:
            return
        last = len(self._ids) - 1
        if row != last:
            moved = self._ids[last]
            self._vecs[row] = self._vecs[last]
            self._bits[:, row] = self._bits[:, last]
            self._ids[row] = moved
            self._row[moved] = row
        self._ids.pop()

    def search(self, vec: np.ndarray, k: int, floor: float) -> list[tuple[str, float]]:
        """Up to k (entry id, cosine) with cosine >= floor, best first."""
        n = len(self._ids)
        if n == 0:
            return []
        if n <= EXACT_SCAN_MAX:
            rows = np.arange(n)
        else:
            q = sign_bits(vec[None, :])[0]
            ham = np.bitwise_count(self._bits[:, :n] ^ q[:, None]).sum(axis=0, dtype=np.uint16)
            # The RERANK-th smallest distance from a histogram: cheaper than a partition of n values.
            cum = np.cumsum(np.bincount(ham, minlength=self.dim + 1))
            cut = int(np.searchsorted(cum, RERANK))
            rows = np.flatnonzero(ham <= cut)
            if len(rows) > 4 * RERANK:  # many ties at the cut (a dense cluster): keep the closest
                rows = rows[np.argpartition(ham[rows], RERANK)[:RERANK]]
        sims = self._vecs[rows] @ vec
        keep = np.flatnonzero(sims >= floor)
        if len(keep) == 0:
            return []
        order = keep[np.argsort(-sims[keep])][:k]
        return [(self._ids[int(rows[i])], float(sims[i])) for i in order]
