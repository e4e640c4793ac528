"""models.yaml `families:` and cache prices are validated like the rest: a bad pattern, an unknown
price_from or provider, a negative cache price stop the start with the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config_validation import make_config

from tierroute.config import ConfigError, load_settings

OFFLINE = {"TIERROUTE_SIMULATOR": "on"}


def _load(tmp_path: Path, edit) -> None:  # noqa: ANN001
    load_settings(str(make_config(tmp_path, models_edit=edit)), environ=OFFLINE)


def test_shipped_catalog_has_cache_prices_and_families() -> None:
    from gateway_process import CONFIG

    cat = load_settings(str(CONFIG), environ=OFFLINE).catalog
    opus = cat.models["claude-opus-5-5"]
    assert (opus.input_per_m, opus.output_per_m, opus.cache_write_per_m, opus.cache_read_per_m) == (4, 20, 5, 0.2)
    assert cat.models["claude-sonnet-5-5"].cache_read_per_m is None  # not sourced: unknown, not zero
    assert {f.name for f in cat.families} >= {"claude-opus", "claude-sonnet", "claude-haiku", "gpt", "deepseek"}


@pytest.mark.parametrize(("families", "key", "problem"), [
    ("families:\n  x: {match: ['claude opus*'], price_from: claude-opus-5-5}\n", "families.x.match[0]",
     "bad pattern 'claude opus*'"),
    ("families:\n  x: {match: ['claude-**'], price_from: claude-opus-5-5}\n", "families.x.match[0]", "bad pattern"),
    ("families:\n  x: {match: [], price_from: claude-opus-5-5}\n", "families.x.match", "no patterns"),
    ("families:\n  x: {match: ['claude-*'], price_from: opus}\n", "families.x.price_from",
     "'opus' is not a chat model"),
    ("families:\n  x: {match: ['text-*'], price_from: text-embedding-3-small}\n", "families.x.price_from",
     "is not a chat model"),
    ("families:\n  x: {match: ['claude-*'], price_from: claude-opus-5-5, provider: openai}\n", "families.x.provider",
     "'openai' does not serve 'claude-opus-5-5'"),
    ("families:\n  x: {match: ['claude-*'], from: claude-opus-5-5}\n", "families.x", "Object contains unknown field"),
])
def test_bad_families_are_refused(tmp_path: Path, families: str, key: str, problem: str) -> None:
    def edit(text: str) -> str:
        return text[:text.index("families:\n")] + families
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, edit)
    assert e.value.file.endswith("models.yaml") and e.value.key == key, str(e.value)
    assert problem in e.value.problem and e.value.fix


def test_negative_cache_price_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, lambda t: t.replace("cache_read_per_m: 0.20 ", "cache_read_per_m: -1 ", 1))
    assert e.value.key == "models.claude-opus-5-5.cache_read_per_m" and ">= 0" in e.value.problem
