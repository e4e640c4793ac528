"""How long to wait before retrying the same deployment."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base_s: float, max_s: float, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; a vendor's Retry-After is a floor, never shortened."""
    backoff = random.uniform(0, min(max_s, base_s * (2**attempt)))
    return max(backoff, retry_after or 0.0)
