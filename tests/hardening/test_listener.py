"""Item 1 of issue 12: a gateway with no master key never listens beyond loopback, however the
address is given (--host, TIERROUTE_HOST, the config file), and its banner never calls a
non-loopback bind "loopback only"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway_process import MASTER_KEY, free_port, write_config

OPEN_ADDRESSES = ("0.0.0.0", "::", "")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and k not in ("TIERROUTE_MASTER_KEY", "TIERROUTE_HOST", "TIERROUTE_CONFIG")}
    env.update(extra)
    return env


def _serve(cfg: Path, env: dict[str, str], *args: str, wait_for: str | None = None,
           timeout: float = 30) -> tuple[int | None, str]:
    """Run `tierroute serve`; return (exit code or None if it kept running, its output)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tierroute", "serve", "--config", str(cfg), "--port", str(port),
                             *args], env=env, cwd=cfg.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc.returncode, proc.stdout.read().decode()  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/liveness", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    out, _ = proc.communicate(timeout=15)
    return (None if proc.returncode in (0, -15) else proc.returncode), out.decode()


@pytest.mark.parametrize("host", OPEN_ADDRESSES)
def test_host_flag_without_master_key_is_refused(tmp_path: Path, host: str) -> None:
    code, out = _serve(write_config(tmp_path), _env(), "--host", host)
    assert code == 2, out
    assert "server.master_key" in out and "TIERROUTE_MASTER_KEY" in out and "--host" in out, out
    assert "loopback only" not in out


def test_env_host_without_master_key_is_refused(tmp_path: Path) -> None:
    code, out = _serve(write_config(tmp_path), _env(TIERROUTE_HOST="0.0.0.0"))
    assert code == 2, out
    assert "TIERROUTE_HOST" in out and "TIERROUTE_MASTER_KEY" in out, out


def test_config_file_host_without_master_key_is_refused(tmp_path: Path) -> None:
    code, out = _serve(write_config(tmp_path, {"server": {"host": "::"}}), _env())
    assert code == 2, out
    assert "server.host" in out and "TIERROUTE_MASTER_KEY" in out, out


def test_flag_can_narrow_an_open_config_to_loopback(tmp_path: Path) -> None:
    # The address checked is the one bound: --host 127.0.0.1 over TIERROUTE_HOST=0.0.0.0 is fine.
    code, out = _serve(write_config(tmp_path), _env(TIERROUTE_HOST="0.0.0.0"), "--host", "127.0.0.1")
    assert code is None, out
    assert "listening on http://127.0.0.1:" in out and "loopback only" in out


def test_open_bind_with_master_key_starts_and_says_so(tmp_path: Path) -> None:
    code, out = _serve(write_config(tmp_path), _env(TIERROUTE_MASTER_KEY=MASTER_KEY), "--host", "0.0.0.0")
    assert code is None, out
    assert "master key required" in out and "loopback only" not in out


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("0", False), ("10.1.2.3", False),
    ("name.that.does.not.resolve.invalid", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    from tierroute.config.loader import is_loopback

    assert is_loopback(host) is loopback
