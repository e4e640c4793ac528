"""What a store answers to an acquire, and the lease the caller hands back on release."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Grant:
    ok: bool
    retry_ms: int | None  # when refused: ms until it frees (None: when a concurrent call ends)
    why: str
    bucket: int = 0  # window bucket the tokens were charged to, for reconciliation
    charged: int = 0  # tokens charged (the estimate, capped at the tpm limit)
    rpm_used: int = 0
    tpm_used: int = 0
    rpd_used: int = 0
    concurrent: int = 0


@dataclass(slots=True)
class Lease:
    """One admitted upstream attempt. Hand it back to ``Limits.release`` exactly once."""

    dep_id: str
    lease_id: str
    est_tokens: int
    charged: int
    bucket: int
    shared: bool  # taken from Redis (True) or the local store (False)
    released: bool = False
