"""The simulator's config: defaults, the example file, per-model lookup, and bad files named exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

import tierroute.sim
from tierroute.sim.config import SimConfig, config_from_dict, load_sim_config

EXAMPLE = Path(tierroute.sim.__file__).parent / "example.yaml"


def test_defaults_without_a_file() -> None:
    config = load_sim_config(None)
    assert isinstance(config, SimConfig)
    s = config.settings_for("any-model-at-all")
    assert s.latency_ms == 0 and s.context_window == 128_000 and s.vision is True
    assert s.faults.down is False and s.faults.hang_s == 30 and not s.faults.any_rate()


def test_example_file_loads_and_patterns_resolve() -> None:
    config = load_sim_config(str(EXAMPLE))
    assert config.seed == 42
    assert config.settings_for("gpt-4o").latency_ms == 350
    opus = config.settings_for("claude-opus-4-20250514")  # a pattern
    assert opus.context_window == 200_000 and opus.faults.rate("529") == 0.03
    flash = config.settings_for("gemini-2.0-flash")
    assert flash.faults.rate("429") == 0.05 and flash.faults.retry_after_s == 7
    assert config.settings_for("deepseek/deepseek-chat-v3").vision is False
    assert config.settings_for("unlisted") == config.defaults
    assert "gpt-4o" in config.listed_models() and "claude-opus-4-*" not in config.listed_models()


def test_family_context_windows_unless_the_defaults_set_one() -> None:
    config = load_sim_config(None)
    windows = [
        config.settings_for(m).context_window for m in ("claude-opus-4", "gemini-2.0-flash", "gpt-4o", "x")
    ]
    assert windows == [200_000, 1_048_576, 128_000, 128_000]
    config = config_from_dict({"defaults": {"latency_ms": 9}, "models": {"claude-x": {"tokens_per_s": 5}}})
    assert (
        config.settings_for("claude-x").context_window == 200_000
    )  # a named model keeps its family's window
    assert config.settings_for("claude-y").latency_ms == 9
    config = config_from_dict({"defaults": {"context_window": 1000}})
    assert config.settings_for("gemini-2.0-flash").context_window == 1000


def test_models_inherit_defaults() -> None:
    config = config_from_dict({"defaults": {"latency_ms": 5, "faults": {"500": 0.5}},
                               "models": {"m": {"tokens_per_s": 10}}})  # fmt: skip
    m = config.settings_for("m")
    assert (m.latency_ms, m.tokens_per_s, m.faults.rate("500")) == (5, 10, 0.5)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("seed: 1\nbogus: 2\n", "unknown key 'bogus'"),
        ("models:\n  m:\n    latency: 5\n", "models.m.latency: unknown setting"),
        ("models:\n  m:\n    faults: {429: 1.5}\n", "models.m.faults.429"),
        ("models:\n  m:\n    faults: {explode: 0.1}\n", "models.m.faults.explode: unknown fault"),
        ("defaults:\n  vision: maybe\n", "defaults.vision: must be true or false"),
        ("defaults:\n  context_window: -3\n", "defaults.context_window: must be at least"),
        ("defaults:\n  latency_ms: fast\n", "defaults.latency_ms: must be a number"),
        ("api_keys: [1, 2]\n", "api_keys"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("seed: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as ei:
        load_sim_config(str(path))
    assert str(path) in str(ei.value) and needle in str(ei.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_sim_config(str(tmp_path / "nope.yaml"))


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_sim_config(str(path)).settings_for("x") == SimConfig().defaults
