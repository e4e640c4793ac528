"""The dialect benchmark: what forwarding costs on /v1/messages and /v1/responses next to
/v1/chat/completions, for tierroute and LiteLLM's proxy, in one run.

One fixed nginx upstream answers all three endpoints with a fixed body (chat completion, Anthropic
Message, Response). Each gateway runs pinned to core 0, wrk and nginx to core 1 (as
../shared/bench does); per endpoint and concurrency, wrk measures the upstream directly and then
through the gateway, and the table shows req/s and the p50 the gateway adds.

    bash ../shared/bench/setup.sh      # once: nginx, wrk, LiteLLM's venv under $BENCH_HOME
    .venv/bin/python bench/dialects/run.py [--duration 10] [--conc 1 64] [--gateways tierroute litellm]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BENCH_HOME = Path(os.environ.get("BENCH_HOME", "/tmp/tierroute-bench"))
PROMPT = "Say hello in one short sentence."
KEY = "sk-bench-" + os.urandom(24).hex()  # LiteLLM refuses to start with a weak or no master key
REQUESTS = {
    "chat": ("/v1/chat/completions", {"model": "bench-model", "max_tokens": 16,
                                      "messages": [{"role": "user", "content": PROMPT}]}),
    "messages": ("/v1/messages", {"model": "bench-claude", "max_tokens": 16,
                                  "messages": [{"role": "user", "content": PROMPT}]}),
    "responses": ("/v1/responses", {"model": "bench-model", "input": PROMPT, "max_output_tokens": 16,
                                    "store": False}),
}
TEXT = "Hello! Nice to meet you."
ANSWERS = {
    "/v1/chat/completions": {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
                             "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                 "role": "assistant", "content": TEXT}}],
                             "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}},
    "/v1/messages": {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                     "content": [{"type": "text", "text": TEXT}], "stop_reason": "end_turn", "stop_sequence": None,
                     "usage": {"input_tokens": 12, "output_tokens": 7, "cache_creation_input_tokens": 0,
                               "cache_read_input_tokens": 0}},
    "/v1/responses": {"id": "resp_bench", "object": "response", "created_at": 1700000000, "status": "completed",
                      "model": "gpt-4o-mini", "error": None, "incomplete_details": None, "instructions": None,
                      "metadata": {}, "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto",
                      "tools": [], "top_p": 1.0,
                      "output": [{"type": "message", "id": "msg_b", "status": "completed", "role": "assistant",
                                  "content": [{"type": "output_text", "text": TEXT, "annotations": []}]}],
                      "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 7,
                                "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 19}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    locations = "".join(
        f"    location = {path} {{ default_type application/json; return 200 '{json.dumps(body)}'; }}\n"
        for path, body in ANSWERS.items())
    (workdir / "logs").mkdir(exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
{locations}  }}
}}
""")
    proc = subprocess.Popen(["taskset", "-c", "1", "nginx", "-p", str(workdir), "-c", str(conf), "-e",
                             str(workdir / "logs/error.log")], start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def start_gateway(name: str, port: int, upstream: str, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PORT": str(port), "UPSTREAM_ROOT": upstream, "UPSTREAM_V1": upstream + "/v1",
           "BENCH_HOME": str(BENCH_HOME), "GATEWAY_API_KEY": KEY}
    if name == "tierroute":
        cmd = [str(ROOT / ".venv/bin/tierroute"), "serve", "--config", str(HERE / "tierroute.yaml")]
    else:  # as ../shared/bench runs it
        env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_MASTER_KEY=KEY)
        cmd = [str(BENCH_HOME / ".venv/bin/litellm"), "--config", str(HERE / "litellm.yaml"), "--host",
               "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - open for the process's life
    return subprocess.Popen(["taskset", "-c", "0", *cmd], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_ready(base: str, timeout: float = 180.0) -> float:
    t0 = time.monotonic()
    path, body = REQUESTS["chat"]
    while time.monotonic() - t0 < timeout:
        try:
            r = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
            if r.status_code == 200 and TEXT in r.text:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not answer within {timeout:.0f} s")


def check(base: str, kind: str) -> None:
    path, body = REQUESTS[kind]
    r = httpx.post(base + path, json=body, timeout=10,
                   headers={"Authorization": f"Bearer {KEY}", "x-api-key": KEY,
                            "anthropic-version": "2023-06-01"})
    if r.status_code != 200 or TEXT not in r.text:
        raise RuntimeError(f"{base}{path} answered {r.status_code}: {r.text[:300]}")


def wrk(url: str, body: dict[str, object], conc: int, duration: int) -> dict[str, float]:
    env = {**os.environ, "BENCH_BODY": json.dumps(body), "BENCH_API_KEY": KEY}
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{conc}", f"-d{duration}s", "--timeout", "10s",
                          "-s", str(HERE / "body.lua"), url], env=env, capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON "))
    doc = json.loads(line.removeprefix("BENCH_JSON "))
    return {"rps": doc["requests"] / (doc["duration_us"] / 1e6), "p50_ms": doc["p50"] / 1000,
            "errors": doc["errors"], "requests": doc["requests"]}


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--conc", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--gateways", nargs="+", default=["tierroute", "litellm"])
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="tr-dialects-") as tmp:
        work = Path(tmp)
        nginx, upstream = start_nginx(work)
        try:
            time.sleep(0.5)
            direct = {}
            for kind, (path, body) in REQUESTS.items():
                for c in args.conc:
                    wrk(upstream + path, body, c, args.warmup)
                    direct[kind, c] = wrk(upstream + path, body, c, args.duration)
            for name in args.gateways:
                port = free_port()
                gw = start_gateway(name, port, upstream, work)
                base = f"http://127.0.0.1:{port}"
                try:
                    start_s = wait_ready(base)
                    for kind, (path, body) in REQUESTS.items():
                        check(base, kind)
                        for c in args.conc:
                            wrk(base + path, body, c, args.warmup)
                            r = wrk(base + path, body, c, args.duration)
                            rows.append({"gateway": name, "endpoint": path, "conc": c, "start_s": round(start_s, 2),
                                         "rps": round(r["rps"], 1), "errors": r["errors"],
                                         "added_p50_ms": round(r["p50_ms"] - direct[kind, c]["p50_ms"], 3)})
                            print(json.dumps(rows[-1]), flush=True)
                finally:
                    stop(gw)
        finally:
            stop(nginx)
    print(f"\n| gateway | endpoint | {' | '.join(f'req/s c{c}' for c in args.conc)} | added p50 c{args.conc[0]} (ms)"
          " | errors |")
    print("|---|---|" + "---|" * (len(args.conc) + 2))
    for name in args.gateways:
        for _, (path, _) in REQUESTS.items():
            sel = [r for r in rows if r["gateway"] == name and r["endpoint"] == path]
            rps = " | ".join(f"{r['rps']:,.0f}" for r in sel)
            print(f"| {name} | {path} | {rps} | {sel[0]['added_p50_ms']:.3f} | {sum(int(r['errors']) for r in sel)} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
