"""Replay agent sessions through real `tierroute serve` processes on the built-in simulator and compare
what each configuration costs.

    .venv/bin/python bench/agent_sessions/run.py                 # 10 seeded sessions, configs a, b, c
    .venv/bin/python bench/agent_sessions/run.py --sessions 8 --json /tmp/agent_sessions.json
    .venv/bin/python bench/agent_sessions/run.py --replay my_requests.jsonl

Configurations (each a fresh gateway, offline: no provider key, so every model is the simulator):
  a  premium   requests name a premium Claude model (claude-sonnet-4-5), routed as named, provider caching
  b  routed    model "auto", session affinity and cache-aware routing off (routing.affinity.enabled: false)
  c  cache     model "auto", defaults: cache pricing, affinity, cache-aware routing
Every gateway has its response cache off and no quotas (an empty rate_limits file).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from workload import DEFAULT_MODEL, Session, generate, load_jsonl  # noqa: E402

from gateway_process import MASTER_KEY, GatewayProcess, write_config  # noqa: E402

CATALOG = ROOT / "config" / "models.yaml"


# ------------------------------------------------------------------------------ configurations

def _routing_fields() -> dict[str, set[str]]:
    """The routing config's fields as the code in src/ has them now (the keys are still moving)."""
    try:
        import msgspec

        from tierroute.routing import config as rc
    except Exception:  # noqa: BLE001
        return {}
    out: dict[str, set[str]] = {"": set(rc.RoutingConfig.__struct_fields__)}
    for name in rc.RoutingConfig.__struct_fields__:
        default = getattr(rc.RoutingConfig(), name)
        if isinstance(default, msgspec.Struct):
            out[name] = set(type(default).__struct_fields__)
    return out


def no_cache_awareness() -> tuple[dict[str, Any], list[str]]:
    """routing: overrides that turn session affinity and cache-aware routing off, from the keys that
    exist; and a note per key (set, or missing)."""
    fields = _routing_fields()
    over: dict[str, Any] = {}
    notes = []
    if "enabled" in fields.get("affinity", set()):
        over["affinity"] = {"enabled": False}
        notes.append("routing.affinity.enabled: false")
    else:
        notes.append("routing.affinity.enabled does not exist: affinity cannot be turned off")
    for section in ("cache_aware", "cache_routing", "prompt_cache"):
        if "enabled" in fields.get(section, set()):
            over[section] = {"enabled": False}
            notes.append(f"routing.{section}.enabled: false")
    for flag in ("cache_aware", "cache_aware_routing"):
        if flag in fields.get("", set()) and flag not in fields:
            over[flag] = False
            notes.append(f"routing.{flag}: false")
    return over, notes


@dataclass
class Config:
    key: str
    name: str
    model: str | None                      # the model every request names; None = as the workload has it
    overrides: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def configurations(premium_model: str, rules: str | None) -> dict[str, Config]:
    b_over, b_notes = no_cache_awareness()
    extra = {"routing_rules": str(Path(rules).resolve())} if rules else {}
    return {
        "a": Config("a", f"premium only ({premium_model}, provider caching)", premium_model, dict(extra)),
        "b": Config("b", "tierroute routing, no cache awareness", "auto", {"routing": b_over, **extra}, b_notes),
        "c": Config("c", "tierroute routing + cache pricing, affinity, cache-aware", "auto", dict(extra)),
    }


# -------------------------------------------------------------------------------------- replay

@dataclass
class Result:
    session: str
    index: int
    label: str
    status: int
    cost: float | None
    baseline: float | None
    model: str | None
    route: str | None
    request_id: str | None
    cache_read: int
    cache_write: int
    input_tokens: int
    latency_s: float
    error: str | None = None


def _send_session(url: str, session: Session, model: str | None, timeout: float) -> list[Result]:
    out = []
    with httpx.Client(base_url=url, timeout=timeout) as client:
        for turn in session.turns:
            body = turn.body
            if model is not None:
                body = dict(body, model=model)
            headers = {**turn.headers, "Authorization": f"Bearer {MASTER_KEY}", "x-api-key": MASTER_KEY}
            t0 = time.perf_counter()
            try:
                r = client.post(turn.path, json=body, headers=headers)
            except httpx.HTTPError as e:
                out.append(Result(session.id, turn.index, turn.label, 0, None, None, None, None, None, 0, 0, 0,
                                  time.perf_counter() - t0, repr(e)))
                continue
            dt = time.perf_counter() - t0
            usage: dict[str, Any] = {}
            error = None
            try:
                data = r.json()
                usage = data.get("usage") or {}
                if r.status_code != 200:
                    error = json.dumps(data.get("error", data))[:300]
            except ValueError:
                error = r.text[:300]
            # Anthropic dialect; the OpenAI ones for replayed chat/responses requests.
            details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
            read = usage.get("cache_read_input_tokens") or details.get("cached_tokens") or 0
            write = usage.get("cache_creation_input_tokens") or 0
            inp = usage.get("input_tokens") or usage.get("prompt_tokens") or 0

            out.append(Result(session.id, turn.index, turn.label, r.status_code,
                              _header_usd(r, "x-tierroute-cost-usd"), _header_usd(r, "x-tierroute-baseline-usd"), r.headers.get("x-tierroute-model"),
                              r.headers.get("x-tierroute-route"), r.headers.get("x-request-id"),
                              int(read), int(write), int(inp), dt, error))
    return out


def _header_usd(r: httpx.Response, name: str) -> float | None:
    v = r.headers.get(name)
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def _usage_db(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        cols = {r[1] for r in conn.execute("PRAGMA table_info(usage_events)")}
        want = [c for c in ("request_id", "model", "deployment", "task", "complexity", "cost_usd",
                            "baseline_cost_usd", "nocache_cost_usd", "cache_read_tokens", "cache_write_tokens",
                            "prompt_tokens", "completion_tokens", "status") if c in cols]
        return {row["request_id"]: dict(row) for row in conn.execute(f"SELECT {', '.join(want)} FROM usage_events")}


def run_config(cfg: Config, sessions: list[Session], *, parallel: int, workdir: Path, timeout: float,
               log: Any) -> dict[str, Any]:
    d = workdir / cfg.key
    d.mkdir(parents=True, exist_ok=True)
    limits = d / "rate_limits.yaml"
    limits.write_text("providers: {}\ndeployments: {}\n")
    overrides = copy.deepcopy(cfg.overrides)
    overrides.update({
        "cache": {"enabled": False},
        "rate_limits": str(limits),
        "usage": {"sqlite_path": str(d / "usage.db"), "spill_dir": str(d / "spill")},
        "limits": {"state_path": str(d / "limits.db"), "redis_url": ""},
        "keys": {"path": str(d / "keys.db")},
        "simulator": {"mode": "on"},
    })
    config = write_config(d, overrides)
    gw = GatewayProcess(config, env={"TIERROUTE_LOG_LEVEL": "warning"}, workdir=d)
    t0 = time.perf_counter()
    gw.start(timeout=60)
    try:
        with cf.ThreadPoolExecutor(max(1, parallel)) as pool:
            futures = [pool.submit(_send_session, gw.url, s, cfg.model, timeout) for s in sessions]
            results = [r for f in futures for r in f.result()]
    finally:
        rc = gw.stop()
    wall = time.perf_counter() - t0
    db = _usage_db(d / "usage.db")
    summary = summarize(results, db)
    summary.update(key=cfg.key, name=cfg.name, model_requested=cfg.model or "(as recorded)", notes=cfg.notes,
                   wall_s=round(wall, 1), gateway_exit=rc, config_file=str(config))
    bad = [r for r in results if r.status != 200]
    if bad:
        log(f"  [{cfg.key}] {len(bad)} failed turns, first: {bad[0].status} {bad[0].error}")
        summary["gateway_log_tail"] = gw.log()[-3000:]
    return summary


# ------------------------------------------------------------------------------------- summary

def _tiers() -> dict[str, str]:
    data = yaml.safe_load(CATALOG.read_text())
    return {name: m.get("tier", "") for name, m in (data.get("models") or {}).items()}


def summarize(results: list[Result], db: dict[str, dict[str, Any]]) -> dict[str, Any]:
    tiers = _tiers()
    ok = [r for r in results if r.status == 200]
    later = [r for r in ok if r.index > 0]
    hard = [r for r in ok if r.label == "hard"]
    rows = [db.get(r.request_id or "") for r in ok]
    matched = [x for x in rows if x]
    cost_h = sum(r.cost or 0.0 for r in ok)
    missing_cost = sum(1 for r in ok if r.cost is None)
    missing_base = sum(1 for r in ok if r.baseline is None)
    models: dict[str, int] = {}
    for r in ok:
        models[r.model or "?"] = models.get(r.model or "?", 0) + 1
    routes: dict[str, int] = {}
    for r in ok:
        routes[r.route or "?"] = routes.get(r.route or "?", 0) + 1
    moves, prev = 0, {}
    for r in ok:  # a session changing model from one turn to the next (its warm cache left behind)
        if r.session in prev and prev[r.session] != r.model:
            moves += 1
        prev[r.session] = r.model
    db_cost = sum(x.get("cost_usd") or 0.0 for x in matched)
    db_warm_later = sum(1 for r in later if (db.get(r.request_id or "") or {}).get("cache_read_tokens"))
    warm_resp = sum(1 for r in later if r.cache_read > 0)
    return {
        "turns": len(results), "ok": len(ok), "failed": len(results) - len(ok),
        "hard_turns": len(hard),
        "cost_usd": round(cost_h, 6),
        "baseline_usd": round(sum(r.baseline or 0.0 for r in ok), 6),
        "db_rows_matched": len(matched),
        "db_cost_usd": round(db_cost, 6),
        "db_baseline_usd": round(sum(x.get("baseline_cost_usd") or 0.0 for x in matched), 6),
        "db_nocache_cost_usd": round(sum(x.get("nocache_cost_usd") or 0.0 for x in matched), 6),
        "db_cache_read_tokens": sum(x.get("cache_read_tokens") or 0 for x in matched),
        "db_cache_write_tokens": sum(x.get("cache_write_tokens") or 0 for x in matched),
        "resp_cache_read_tokens": sum(r.cache_read for r in ok),
        "resp_cache_write_tokens": sum(r.cache_write for r in ok),
        "resp_input_tokens": sum(r.input_tokens for r in ok),
        "missing_cost_header": missing_cost, "missing_baseline_header": missing_base,
        "warm_share": round(warm_resp / len(later), 4) if later else None,
        "warm_share_db": round(db_warm_later / len(later), 4) if later and matched else None,
        "hard_premium_share": round(sum(1 for r in hard if tiers.get(r.model or "") == "premium") / len(hard), 4)
        if hard else None,
        "easy_premium_share": round(sum(1 for r in ok if r.label == "easy" and tiers.get(r.model or "") == "premium")
                                    / max(1, sum(1 for r in ok if r.label == "easy")), 4),
        "model_switches": moves,
        "models": dict(sorted(models.items(), key=lambda kv: -kv[1])),
        "routes": dict(sorted(routes.items(), key=lambda kv: -kv[1])),
        "mean_latency_s": round(sum(r.latency_s for r in ok) / len(ok), 3) if ok else None,
    }


def table(out: dict[str, Any]) -> str:
    res = out["results"]
    lines = ["| config | turns ok | cost (headers) USD | cost (usage DB) USD | baseline USD | warm turns after the 1st |"
             " hard turns on premium | easy turns on premium | model switches | models |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    for k, s in res.items():
        models = ", ".join(f"{m} {n}" for m, n in list(s["models"].items())[:4])
        lines.append(f"| ({k}) {s['name']} | {s['ok']}/{s['turns']} | {s['cost_usd']:.4f} | {s['db_cost_usd']:.4f} "
                     f"| {s['baseline_usd']:.4f} | {pct(s['warm_share'])} | {pct(s['hard_premium_share'])} "
                     f"| {pct(s['easy_premium_share'])} | {s['model_switches']} | {models} |")
    r = out.get("ratios", {})
    lines.append("")
    for name, v in r.items():
        lines.append(f"- {name}: {'n/a' if v is None else f'{v:.3f}'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=10, help="seeded sessions to generate (default 10)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--min-turns", type=int, default=10)
    p.add_argument("--max-turns", type=int, default=60)
    p.add_argument("--prefix-min", type=int, default=20_000, help="stable prefix, tokens (min)")
    p.add_argument("--prefix-max", type=int, default=60_000, help="stable prefix, tokens (max)")
    p.add_argument("--replay", help="a JSONL of real requests (one body a line, or {body, path, headers, label})")
    p.add_argument("--configs", default="a,b,c", help="which of a,b,c to run (default all)")
    p.add_argument("--premium-model", default=DEFAULT_MODEL, help="the model configuration (a) names")
    p.add_argument("--rules", help="a routing_rules.yaml to use instead of the shipped one (all configs)")
    p.add_argument("--parallel", type=int, default=2, help="sessions in flight at once (default 2)")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--dump-workload", help="write the generated workload as JSONL here (and still run)")
    p.add_argument("--keep", help="keep each gateway's config, usage DB and log under this directory")
    a = p.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if a.replay:
        sessions = load_jsonl(a.replay)
        source = {"replay": str(a.replay)}
    else:
        sessions = generate(a.seed, a.sessions, min_turns=a.min_turns, max_turns=a.max_turns,
                            prefix_min=a.prefix_min, prefix_max=a.prefix_max)
        source = {"seed": a.seed, "sessions": a.sessions, "min_turns": a.min_turns, "max_turns": a.max_turns,
                  "prefix_tokens": [a.prefix_min, a.prefix_max]}
    if a.dump_workload:
        from workload import dump_jsonl
        dump_jsonl(sessions, a.dump_workload)
    n_turns = sum(len(s.turns) for s in sessions)
    log(f"workload: {len(sessions)} sessions, {n_turns} turns, "
        f"{sum(t.label == 'hard' for s in sessions for t in s.turns)} hard")

    cfgs = configurations(a.premium_model, a.rules)
    keys = [k.strip() for k in a.configs.split(",") if k.strip()]
    out: dict[str, Any] = {"workload": {**source, "n_sessions": len(sessions), "turns": n_turns}, "results": {}}
    with tempfile.TemporaryDirectory(prefix="agent-sessions-") as tmp:
        workdir = Path(a.keep).resolve() if a.keep else Path(tmp)
        for k in keys:
            cfg = cfgs[k]
            log(f"({k}) {cfg.name} {' '.join(cfg.notes)}")
            s = run_config(cfg, sessions, parallel=a.parallel, workdir=workdir, timeout=a.timeout, log=log)
            log(f"  cost ${s['cost_usd']:.4f} (usage DB ${s['db_cost_usd']:.4f}), warm {s['warm_share']}, "
                f"hard on premium {s['hard_premium_share']}, {s['wall_s']}s")
            out["results"][k] = s
    res = out["results"]

    def ratio(x: str, y: str) -> float | None:
        if x in res and y in res and res[y]["cost_usd"]:
            return round(res[x]["cost_usd"] / res[y]["cost_usd"], 4)
        return None

    out["ratios"] = {"(c)/(a)": ratio("c", "a"), "(c)/(b)": ratio("c", "b"), "(b)/(a)": ratio("b", "a")}
    out["checks"] = checks(res)
    print(table(out))
    for c in out["checks"]:
        print(f"- check: {c}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
        log(f"wrote {a.json}")
    return 0


def checks(res: dict[str, Any]) -> list[str]:
    """What looked wrong in the gateway's answers (empty when nothing did)."""
    out = []
    for k, s in res.items():
        if s["failed"]:
            out.append(f"({k}) {s['failed']} turns failed")
        if s["missing_cost_header"] or s["missing_baseline_header"]:
            out.append(f"({k}) {s['missing_cost_header']} answers without X-Tierroute-Cost-USD, "
                       f"{s['missing_baseline_header']} without X-Tierroute-Baseline-USD")
        if s["db_rows_matched"] < s["ok"]:
            out.append(f"({k}) only {s['db_rows_matched']}/{s['ok']} answers have a usage record (by X-Request-Id)")
        elif abs(s["db_cost_usd"] - s["cost_usd"]) > 1e-6 * max(1, s["ok"]):
            out.append(f"({k}) header cost {s['cost_usd']:.6f} != usage DB cost {s['db_cost_usd']:.6f}")
        if s["db_rows_matched"] and s["db_cache_read_tokens"] != s["resp_cache_read_tokens"]:
            out.append(f"({k}) cache reads: response usage {s['resp_cache_read_tokens']} vs usage DB "
                       f"{s['db_cache_read_tokens']}")
        if s["warm_share"] == 0:
            out.append(f"({k}) no turn after the first read a warm cache")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
