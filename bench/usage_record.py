"""Usage recording speed: what ``record()`` adds to a request, and whether the background writer
keeps up with a sustained load on SQLite and on PostgreSQL (the queue must not grow).

    .venv/bin/python bench/usage_record.py                      # both stores, 10 s each at 2000 req/s
    .venv/bin/python bench/usage_record.py --rate 5000 --duration 30 --pg postgresql://postgres@127.0.0.1:5432/test

Prints per-call cost of record() (p50 / p99 / mean, in microseconds) with the store on and off,
then for each store the queue depth over the run. Exit status 1 if record() costs more than
0.2 ms on average or the queue grows."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tierroute.types import AttemptRecord, UsageEvent
from tierroute.usage import UsageConfig, UsageMetrics, build_recorder

BUDGET_US = 200.0


def event(i: int) -> UsageEvent:
    return UsageEvent(
        request_id=f"bench-{uuid.uuid4().hex}", ts=time.time(), key_id="k-bench", endpoint="chat",
        requested_model="auto", model="deepseek-v3", provider="openrouter", deployment="openrouter/deepseek-v3",
        route="rule:coding-simple", task=("coding", "documentation", "chat")[i % 3], complexity=0.3,
        prompt_tokens=800, completion_tokens=300, cost_usd=0.0, baseline_model="claude-opus-4",
        baseline_cost_usd=0.0345, latency_ms=420.0, ttft_ms=120.0, cache="miss",
        attempts=[AttemptRecord(deployment="openrouter/deepseek-v3", outcome="ok", latency_ms=418.0)],
    )  # fmt: skip


async def record_cost(cfg: UsageConfig, n: int) -> list[float]:
    """Per-call record() time in µs while the flusher runs alongside, as in the gateway."""
    rec = build_recorder(cfg, UsageMetrics())
    await rec.start()
    times = []
    pc = time.perf_counter_ns
    for i in range(n):
        e = event(i)  # made one at a time, as requests are, so the heap stays a gateway's size
        t0 = pc()
        rec.record(e)
        times.append((pc() - t0) / 1000)
        if i % 200 == 0:
            await asyncio.sleep(0)
    await rec.close()
    return times


async def sustained(cfg: UsageConfig | None, rate: int, duration: float) -> dict[str, float]:
    """``cfg`` None: the same load with no recorder at all, to subtract the producer's own CPU."""
    rec = build_recorder(cfg or UsageConfig(enabled=False), UsageMetrics())
    await rec.start()
    cpu0 = time.process_time()
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    depths: list[int] = []
    t_end = time.monotonic() + duration
    i = 0
    next_t = time.monotonic()
    while time.monotonic() < t_end:
        for _ in range(per_tick):
            e = event(i)
            if cfg is not None:
                rec.record(e)
            i += 1
        depths.append(rec.stats()["queue"])
        next_t += tick
        await asyncio.sleep(max(0.0, next_t - time.monotonic()))
    sent_rate = i / duration
    t0 = time.monotonic()
    await rec.close()
    cpu = time.process_time() - cpu0
    half = len(depths) // 2
    return {
        "cpu_us_per_event": cpu / i * 1e6,
        "sent": i, "rate": sent_rate, "written": rec.counts["written"], "spilled": rec.counts["spilled"],
        "dropped": rec.counts["dropped"], "max_queue": max(depths), "mean_queue_1st_half": statistics.mean(depths[:half]),
        "mean_queue_2nd_half": statistics.mean(depths[half:]), "close_s": time.monotonic() - t0,
    }  # fmt: skip


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=2000, help="events per second in the sustained run")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per store in the sustained run")
    ap.add_argument("--calls", type=int, default=100_000, help="record() calls for the per-call cost")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="usage-bench-"))
    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    ok = True
    try:
        print(f"record() cost over {args.calls:,} calls (µs):")
        for name, cfg in [
            ("store off", UsageConfig(enabled=False, spill_dir=str(tmp / "s0"))),
            ("sqlite", UsageConfig(sqlite_path=str(tmp / "a.db"), spill_dir=str(tmp / "s1"))),
        ]:
            t = await record_cost(cfg, args.calls)
            mean = statistics.mean(t)
            print(f"  {name:10s} p50 {pct(t, 50):6.2f}  p99 {pct(t, 99):6.2f}  p99.9 {pct(t, 99.9):7.2f}  "
                  f"max {max(t):8.1f}  mean {mean:6.2f}")  # fmt: skip
            ok &= mean <= BUDGET_US
        print(f"\nsustained {args.rate} events/s for {args.duration:.0f} s:")
        base = await sustained(None, args.rate, args.duration)
        print(f"  {'no recorder':10s} CPU {base['cpu_us_per_event']:.1f} µs/event (making the events)")
        for name, cfg in [
            ("sqlite", UsageConfig(sqlite_path=str(tmp / "b.db"), spill_dir=str(tmp / "s2"))),
            ("postgresql", UsageConfig(database_url=args.pg, table_prefix=prefix, spill_dir=str(tmp / "s3"))),
        ]:
            r = await sustained(cfg, args.rate, args.duration)
            grew = r["mean_queue_2nd_half"] > max(2 * r["mean_queue_1st_half"], 2 * cfg.batch_size)
            lost = r["written"] != r["sent"]
            assert cfg is not None
            print(f"  {name:10s} sent {r['sent']:,} ({r['rate']:.0f}/s) written {r['written']:,} "
                  f"spilled {r['spilled']} dropped {r['dropped']}  queue max {r['max_queue']} "
                  f"mean {r['mean_queue_1st_half']:.0f} -> {r['mean_queue_2nd_half']:.0f}  "
                  f"close {r['close_s']:.2f}s  {'GROWS' if grew else 'steady'}{' LOST' if lost else ''}  "
                  f"CPU +{r['cpu_us_per_event'] - base['cpu_us_per_event']:.1f} µs/event (all threads)")  # fmt: skip
            ok &= not grew and not lost
    finally:
        async with await psycopg.AsyncConnection.connect(args.pg, autocommit=True) as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {prefix}usage_events")
            await conn.execute(f"DROP TABLE IF EXISTS {prefix}schema_version")
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
