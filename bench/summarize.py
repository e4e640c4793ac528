"""One table from several harness result files (bench/compare.sh): throughput, added latency, CPU
per request, memory and start-up for each gateway variant, and ratios against LiteLLM."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> None:
    runs = [json.loads(Path(p).read_text()) for p in paths]
    concs = sorted({m["concurrency"] for r in runs for m in r.get("gateway", [])})
    head = ["variant", "start s", "idle MB"] + [f"rps c{c}" for c in concs] + \
        [f"+p50 ms c{c}" for c in concs] + [f"cpu ms/req c{c}" for c in concs]
    rows = []
    by_name = {}
    for r in runs:
        name = r["meta"]["name"]
        base = {m["concurrency"]: m for m in r.get("baseline", [])}
        gw = {m["concurrency"]: m for m in r.get("gateway", [])}
        by_name[name] = gw
        row = [name, r["meta"]["startup_s"], r["meta"]["idle_rss_mb"]]
        row += [gw[c]["rps"] if c in gw else "" for c in concs]
        row += [round(gw[c]["lat_ms"]["p50"] - base[c]["lat_ms"]["p50"], 3) if c in gw and c in base else ""
                for c in concs]
        row += [gw[c].get("gateway_cpu_ms_per_req", "") if c in gw else "" for c in concs]
        rows.append(row)
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    lite = next((g for n, g in by_name.items() if n.startswith("litellm")), None)
    if lite:
        print()
        for n, g in by_name.items():
            if n.startswith("litellm"):
                continue
            ratios = [f"c{c}: {g[c]['rps'] / lite[c]['rps']:.1f}x" for c in concs if c in g and c in lite]
            print(f"{n} requests/s vs LiteLLM: " + ", ".join(ratios))


if __name__ == "__main__":
    main(sys.argv[1:])
