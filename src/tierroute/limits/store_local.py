"""The in-process quota store: the same algorithm as the Redis Lua scripts, on plain dicts.

Nothing here awaits between reading and writing a counter, so on one event loop every update is
atomic. rpm and tpm are sliding windows kept as time buckets (see ``window_check``); rpd is one
counter per vendor day; concurrency is a set of lease ids with an expiry.
"""

from __future__ import annotations

from .daily_file import DailyFile
from .grant import Grant


def window_check(b: dict[int, int], cur: int, nb: int, need: int, limit: int, bucket_ms: int,
                 now_ms: int) -> tuple[int, int | None]:
    """(amount used in the window, ms until ``need`` more fits or None if it fits now).

    The window is buckets ``cur - nb .. cur``: slightly more than 60 s, so no 60 s span ever holds
    more than ``limit``. Old buckets are dropped as a side effect."""
    lo = cur - nb
    used = 0
    for idx in list(b):
        if idx < lo:
            del b[idx]
        else:
            used += b[idx]
    if used + need <= limit:
        return used, None
    acc = 0
    for idx in sorted(b):
        acc += b[idx]
        if used - acc + need <= limit:
            return used, (idx + nb + 1) * bucket_ms - now_ms
    return used, (cur + nb + 1) * bucket_ms - now_ms


class LocalQuotaStore:
    def __init__(self, *, buckets: int, bucket_ms: int, lease_ttl_ms: int, daily: DailyFile | None) -> None:
        self.nb = buckets
        self.bucket_ms = bucket_ms
        self.lease_ttl_ms = lease_ttl_ms
        self.daily = daily
        self._rpm: dict[str, dict[int, int]] = {}
        self._tpm: dict[str, dict[int, int]] = {}
        self._rpd: dict[tuple[str, str], int] = dict(daily.counts) if daily else {}
        self._conc: dict[str, dict[str, int]] = {}
        self._blocks: dict[str, tuple[int, str]] = {}

    def acquire(self, dep_id: str, *, rpm: int | None, tpm: int | None, rpd: int | None,
                conc: int | None, est_tokens: int, day_id: str, ms_to_reset: int, lease_id: str,
                now_ms: int) -> Grant:
        blk = self._blocks.get(dep_id)
        if blk is not None:
            if blk[0] > now_ms:
                return Grant(False, blk[0] - now_ms, blk[1])
            del self._blocks[dep_id]
        cur = now_ms // self.bucket_ms
        rb = self._rpm.setdefault(dep_id, {}) if rpm else None
        tb = self._tpm.setdefault(dep_id, {}) if tpm else None
        rpm_used = tpm_used = rpd_used = conc_used = 0
        if rb is not None and rpm:
            rpm_used, wait = window_check(rb, cur, self.nb, 1, rpm, self.bucket_ms, now_ms)
            if wait is not None:
                return Grant(False, wait, f"rpm limit {rpm} reached")
        need = min(est_tokens, tpm) if tpm else est_tokens
        if tb is not None and tpm:
            tpm_used, wait = window_check(tb, cur, self.nb, need, tpm, self.bucket_ms, now_ms)
            if wait is not None:
                return Grant(False, wait, f"tpm limit {tpm} reached")
        if rpd:
            rpd_used = self._rpd.get((dep_id, day_id), 0)
            if rpd_used + 1 > rpd:
                return Grant(False, ms_to_reset, f"rpd limit {rpd} reached")
        leases = None
        if conc:
            leases = self._conc.setdefault(dep_id, {})
            for lid in [k for k, exp in leases.items() if exp <= now_ms]:
                del leases[lid]
            conc_used = len(leases)
            if conc_used + 1 > conc:
                return Grant(False, None, f"max_concurrent {conc} reached")
        if rb is not None:
            rb[cur] = rb.get(cur, 0) + 1
            rpm_used += 1
        if tb is not None:
            tb[cur] = tb.get(cur, 0) + need
            tpm_used += need
        if rpd:
            rpd_used += 1
            self._rpd[(dep_id, day_id)] = rpd_used
            if self.daily:
                self.daily.mark(dep_id, day_id, rpd_used)
        if leases is not None:
            leases[lease_id] = now_ms + self.lease_ttl_ms
            conc_used += 1
        return Grant(True, None, "ok", cur, need, rpm_used, tpm_used, rpd_used, conc_used)

    def release(self, dep_id: str, *, bucket: int, token_delta: int, lease_id: str) -> None:
        if token_delta:
            tb = self._tpm.get(dep_id)
            if tb is not None and bucket in tb:
                tb[bucket] = max(0, tb[bucket] + token_delta)
        leases = self._conc.get(dep_id)
        if leases is not None:
            leases.pop(lease_id, None)

    def block(self, dep_id: str, until_ms: int, why: str) -> None:
        old = self._blocks.get(dep_id)
        if old is None or old[0] < until_ms:
            self._blocks[dep_id] = (until_ms, why)

    def usage(self, dep_id: str, day_id: str, now_ms: int) -> dict[str, int]:
        cur = now_ms // self.bucket_ms
        lo = cur - self.nb
        rb, tb = self._rpm.get(dep_id, {}), self._tpm.get(dep_id, {})
        leases = self._conc.get(dep_id, {})
        return {"rpm_used": sum(v for k, v in rb.items() if k >= lo),
                "tpm_used": sum(v for k, v in tb.items() if k >= lo),
                "rpd_used": self._rpd.get((dep_id, day_id), 0),
                "concurrent": sum(1 for exp in leases.values() if exp > now_ms)}
