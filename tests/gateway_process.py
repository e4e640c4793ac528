"""Real servers for end-to-end tests: the simulator on a thread of its own, and the gateway as a
`tierroute serve` subprocess (the command a user runs), both on free ports."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "tierroute.yaml"
MASTER_KEY = "sk-test-master-key-0123456789"
PROVIDERS = ("OPENAI", "ANTHROPIC", "GEMINI", "OPENROUTER", "TOGETHER", "MISTRAL", "DEEPSEEK", "GROQ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimThread:
    """The provider simulator serving on its own event loop in a background thread, so tests using
    blocking clients (the sync OpenAI SDK) and the gateway subprocess can all reach it."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.handle: Any = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        from tierroute.config import load_settings
        from tierroute.gateway import simulator_config
        from tierroute.sim.config import config_from_dict
        from tierroute.sim.server import start_background

        # By default the simulator knows each shipped catalog model's context window and vision support.
        config = self._config or simulator_config(load_settings(str(CONFIG), environ={}).catalog)
        asyncio.set_event_loop(self._loop)
        self.handle = self._loop.run_until_complete(start_background(config_from_dict(config)))
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> SimThread:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("simulator did not start")
        return self

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.base_url}/_sim/stats").json()

    def requests_to(self, model: str) -> int:
        return self.stats().get("models", {}).get(model, {}).get("requests", 0)

    def set_faults(self, model: str, faults: dict[str, Any]) -> None:
        httpx.post(f"{self.base_url}/_sim/faults", json={"model": model, "faults": faults}).raise_for_status()

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_sim/reset").raise_for_status()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.handle.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_config(directory: Path, overrides: dict[str, Any] | None = None, provider_timeout_s: float | None = None
                 ) -> Path:
    """The shipped tierroute.yaml with ``overrides`` merged in, written to ``directory``; the files it
    names (catalog, rules, rate limits) stay the shipped ones, by absolute path."""
    data = yaml.safe_load(CONFIG.read_text())
    for key in ("catalog", "routing_rules", "rate_limits"):
        data[key] = str(CONFIG.parent / data[key])
    if provider_timeout_s is not None:
        for p in data["providers"].values():
            p["timeout_s"] = provider_timeout_s
    data = _merge(data, overrides or {})
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tierroute.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def provider_env(sim_base: str) -> dict[str, str]:
    """Point every provider of the shipped config at the simulator, with dummy keys."""
    env = {}
    for p in PROVIDERS:
        env[f"{p}_API_KEY"] = f"sk-test-{p.lower()}"
        env[f"TIERROUTE_{p}_BASE_URL"] = sim_base + "/v1" if p not in ("ANTHROPIC", "GEMINI") else sim_base
    return env


class GatewayProcess:
    def __init__(self, config: Path = CONFIG, env: dict[str, str] | None = None, port: int | None = None,
                 workdir: Path | None = None) -> None:
        self.config = config
        self.port = port or free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        self.env.update({"TIERROUTE_MASTER_KEY": MASTER_KEY, "TIERROUTE_LOG_LEVEL": "info"})
        self.env.update(env or {})
        self.workdir = workdir or ROOT
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"gateway-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> GatewayProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the process's life
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tierroute", "serve", "--config", str(self.config), "--port", str(self.port)],
            env=self.env, cwd=self.workdir, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health/liveness", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not come up in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {MASTER_KEY}"}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode
