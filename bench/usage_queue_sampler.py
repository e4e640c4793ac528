"""Samples a running gateway's /metrics once a second: usage queue depth and records written.

usage_queue_sampler.py PORT LOGFILE        # runs until killed (the harness kills it with the gateway)
usage_queue_sampler.py --summary LOGFILE   # did the queue grow? how many records went where?
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from pathlib import Path

WANTED = ("tierroute_usage_queue_depth", "tierroute_usage_written_total", "tierroute_usage_spilled_total",
          "tierroute_usage_dropped_total", "tierroute_requests_total")  # fmt: skip


def scrape(port: str, key: str) -> dict[str, float]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {key}"}
    )
    out = dict.fromkeys(WANTED, 0.0)
    with urllib.request.urlopen(req, timeout=2) as r:
        for line in r.read().decode().splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in out:
                out[name] += float(line.rsplit(" ", 1)[1])
    return out


def sample(port: str, path: str) -> None:
    key = os.environ.get("GATEWAY_API_KEY", "")
    with open(path, "w") as f:
        f.write("t " + " ".join(WANTED) + "\n")
        t0 = time.monotonic()
        while True:
            time.sleep(1)
            try:
                m = scrape(port, key)
            except OSError:
                continue  # not up yet, or going down
            f.write(f"{time.monotonic() - t0:.0f} " + " ".join(f"{m[k]:.0f}" for k in WANTED) + "\n")
            f.flush()


def summary(path: str) -> None:
    """Queue depth while load ran (samples where the request count moved): bounded, or growing?"""
    rows = [line.split() for line in Path(path).read_text().splitlines()[1:]]
    rows = [[float(x) for x in r] for r in rows if len(r) == len(WANTED) + 1]
    active = [b for a, b in zip(rows, rows[1:], strict=False) if b[5] > a[5]]
    if len(active) < 3:
        print(f"{os.path.basename(path)}: no load seen (usage off?)")
        return
    depth = [r[1] for r in active]
    third = max(1, len(depth) // 3)
    early, late = sum(depth[:third]) / third, sum(depth[-third:]) / third
    grew = late > early + 1000  # more than two default batches behind, and rising
    last = rows[-1]
    print(f"{os.path.basename(path)}: {len(active)} s under load, queue depth max {max(depth):.0f}, mean "
          f"{early:.0f} (first third) -> {late:.0f} (last third): {'GROWS' if grew else 'steady'}; "
          f"requests {last[5]:.0f}, written {last[2]:.0f} (+ {last[1]:.0f} queued at the last sample), "
          f"spilled {last[3]:.0f}, dropped {last[4]:.0f}")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2])
    else:
        sample(sys.argv[1], sys.argv[2])
