"""A bad config refuses to start with the file, the key path and the fix; `config check` says the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway_process import CONFIG, ROOT
from tierroute.config import ConfigError, load_settings


def make_config(tmp: Path, gateway: dict | None = None, models_edit=None) -> Path:  # noqa: ANN001
    """A copy of the shipped config folder, edited."""
    d = tmp / "config"
    d.mkdir()
    for f in CONFIG.parent.glob("*.yaml"):
        (d / f.name).write_text(f.read_text())
    if gateway is not None:
        data = yaml.safe_load((d / "tierroute.yaml").read_text())
        for dotted, value in gateway.items():
            node = data
            *parents, last = dotted.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
        (d / "tierroute.yaml").write_text(yaml.safe_dump(data))
    if models_edit is not None:
        (d / "models.yaml").write_text(models_edit((d / "models.yaml").read_text()))
    return d / "tierroute.yaml"


def check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierroute", "config", "check", "--config", str(path)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **(env or {})}, cwd=ROOT)


def test_shipped_config_is_valid_and_offline_without_keys(tmp_path: Path) -> None:
    r = check(make_config(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout and "offline" in r.stdout
    s = load_settings(str(CONFIG), environ={})
    assert s.offline and s.catalog.get("opus").name == "claude-opus-4"


def test_unknown_model_in_a_chain(tmp_path: Path) -> None:
    path = make_config(tmp_path, {"fallbacks.models.gpt-4o": ["gpt-4.1", "gpt-17"]})
    r = check(path)
    assert r.returncode == 2
    assert "tierroute.yaml: fallbacks.models.gpt-4o[1]: unknown model 'gpt-17'" in r.stderr
    assert "fix:" in r.stderr


def test_fallback_cycle(tmp_path: Path) -> None:
    path = make_config(tmp_path, {"fallbacks.models.gpt-4o": ["claude-sonnet-4"]})
    with pytest.raises(ConfigError) as e:
        load_settings(str(path), environ={})
    assert "cycle" in e.value.problem
    assert "claude-sonnet-4" in e.value.problem and "gpt-4o" in e.value.problem
    assert e.value.key.startswith("fallbacks.models.")


def test_missing_key_for_enabled_model(tmp_path: Path) -> None:
    r = check(make_config(tmp_path), env={"OPENAI_API_KEY": "sk-real-looking"})
    assert r.returncode == 2
    assert "providers.anthropic.api_key" in r.stderr and "ANTHROPIC_API_KEY" in r.stderr
    assert "sk-real-looking" not in r.stderr + r.stdout


def test_malformed_price(tmp_path: Path) -> None:
    path = make_config(tmp_path, models_edit=lambda t: t.replace("input_per_m: 15.00", "input_per_m: $15", 1))
    with pytest.raises(ConfigError) as e:
        load_settings(str(path), environ={})
    assert e.value.file.endswith("models.yaml")
    assert e.value.key == "models.claude-opus-4.input_per_m"


def test_negative_price(tmp_path: Path) -> None:
    path = make_config(tmp_path, models_edit=lambda t: t.replace("output_per_m: 75.00", "output_per_m: -75", 1))
    with pytest.raises(ConfigError) as e:
        load_settings(str(path), environ={})
    assert e.value.key == "models.claude-opus-4.output_per_m"


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = make_config(tmp_path)
    path.write_text(path.read_text() + "\nserver: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        load_settings(str(path), environ={})
    assert "line" in e.value.key and "YAML" in e.value.problem


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = make_config(tmp_path, {"server.prot": 4000})
    with pytest.raises(ConfigError) as e:
        load_settings(str(path), environ={})
    assert "prot" in str(e.value)


def test_env_and_dotenv_interpolation(tmp_path: Path) -> None:
    path = make_config(tmp_path)
    (tmp_path / ".env").write_text("TIERROUTE_PORT=4555\nTIERROUTE_OPENAI_BASE_URL=http://example.invalid/v1\n")
    s = load_settings(str(path), environ={"TIERROUTE_PORT": "4600"})
    assert s.gateway.server.port == 4600  # the environment wins over .env
    assert s.gateway.providers["openai"].base_url == "http://example.invalid/v1"


def test_master_key_required_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_settings(str(make_config(tmp_path)), environ={"TIERROUTE_HOST": "0.0.0.0"})
    assert e.value.key == "server.master_key" and "TIERROUTE_MASTER_KEY" in e.value.fix


def test_rate_limit_for_unknown_deployment(tmp_path: Path) -> None:
    path = make_config(tmp_path)
    (path.parent / "rate_limits.yaml").write_text("deployments:\n  gemini/gemini-9-ultra: {rpm: 5}\n")
    r = check(path)
    assert r.returncode == 2
    assert "rate_limits.yaml: deployments.gemini/gemini-9-ultra: no deployment" in r.stderr and "fix:" in r.stderr


def test_bad_rate_limit_value(tmp_path: Path) -> None:
    path = make_config(tmp_path)
    (path.parent / "rate_limits.yaml").write_text("deployments:\n  gemini/gemini-2.0-flash: {rpm: -3}\n")
    r = check(path)
    assert r.returncode == 2
    assert "deployments.gemini/gemini-2.0-flash.rpm = -3 is invalid" in r.stderr
    assert not r.stderr.rstrip().splitlines()[0].endswith(":")
