"""rate_limits.yaml and the limits: section: the shipped file loads, bad files are refused with
the file, the key and the fix, and vendor days start when the vendor says (DST included)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from tierroute.limits import DailyReset, LimitsConfig, load_rate_limits

ROOT = Path(__file__).resolve().parents[2]


def _ts(s: str) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()


def test_shipped_file_has_the_published_free_tier_limits() -> None:
    rl = load_rate_limits(str(ROOT / "config" / "rate_limits.yaml"))
    flash = rl.for_deployment("gemini/gemini-2.0-flash")
    assert (flash.rpm, flash.tpm, flash.rpd) == (15, 1_000_000, 200)
    assert str(flash.daily_reset) == "00:00 America/Los_Angeles"
    free = rl.for_deployment("openrouter/deepseek-v3")
    assert (free.rpm, free.rpd) == (20, 50)
    for dep_id in ("anthropic/claude-sonnet-4", "openai/gpt-4.1", "together/llama-3.2-vision",
                   "openrouter/qwen-2.5-coder", "openrouter/qwq-32b", "mistral/mistral-small"):
        assert dep_id in rl.deployments, dep_id
    # A deployment not listed falls back to its provider's defaults, an unknown provider to none.
    assert rl.for_deployment("openrouter/some-new-free-model").rpd == 50
    assert rl.for_deployment("nowhere/model").empty()
    # An override lifts a provider default.
    assert rl.for_deployment("openrouter/qwq-32b").rpd is None


@pytest.mark.parametrize(("text", "needle"), [
    ("deployments:\n  gemini/flash: {rpm: 0}\n", "deployments.gemini/flash.rpm"),
    ("deployments:\n  gemini/flash: {rpm: fast}\n", "whole number"),
    ("deployments:\n  gemini/flash: {rpx: 3}\n", "deployments.gemini/flash.rpx is not a known limit"),
    ("deployments:\n  flash: {rpm: 3}\n", "provider/model"),
    ("deployments:\n  gemini/flash: {daily_reset: '00:00 Mars/Olympus'}\n", "daily_reset"),
    ("deployments:\n  gemini/flash: {daily_reset: '25:00 UTC'}\n", "HH:MM Zone"),
    ("limits: {}\n", "unknown top-level key 'limits'"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("deployments: {a/b: [1]\n", "not valid YAML"),
])
def test_bad_file_names_file_key_and_fix(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "rate_limits.yaml"
    p.write_text(text)
    with pytest.raises(ValueError) as e:
        load_rate_limits(str(p))
    msg = str(e.value)
    assert str(p) in msg
    assert needle in msg


def test_missing_file_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the rate limits file"):
        load_rate_limits(str(tmp_path / "nope.yaml"))


def test_limits_section_validates() -> None:
    cfg = msgspec.convert({"redis_url": "redis://x:6379/0", "cooldown_base_s": 2}, LimitsConfig)
    assert cfg.cooldown_base_s == 2 and cfg.consecutive_failures == 5
    with pytest.raises(msgspec.ValidationError, match="failure_ratio"):
        msgspec.convert({"failure_ratio": 3}, LimitsConfig)
    with pytest.raises(msgspec.ValidationError, match="cooldonw_base_s"):
        msgspec.convert({"cooldonw_base_s": 3}, LimitsConfig)


def test_pacific_midnight_reset_follows_daylight_saving() -> None:
    r = DailyReset.parse("00:00 America/Los_Angeles")
    # 07:59 UTC on 25 Nov is 23:59 PST on the 24th: still the 24th's quota, resetting at 08:00 UTC.
    day, nxt = r.day(_ts("2026-11-25T07:59:00"))
    assert day == "2026-11-24" and nxt == _ts("2026-11-25T08:00:00")
    day, _ = r.day(_ts("2026-11-25T08:00:01"))
    assert day == "2026-11-25"
    # Summer (PDT): midnight is 07:00 UTC.
    day, nxt = r.day(_ts("2026-07-01T06:30:00"))
    assert day == "2026-06-30" and nxt == _ts("2026-07-01T07:00:00")
    # The night DST starts (8 Mar 2026) the next midnight is 07:00 UTC, not 08:00.
    _, nxt = r.day(_ts("2026-03-08T12:00:00"))
    assert nxt == _ts("2026-03-09T07:00:00")


def test_utc_reset_and_plain_forms() -> None:
    assert DailyReset.parse("UTC") == DailyReset(0, 0, "UTC")
    assert DailyReset.parse("07:30") == DailyReset(7, 30, "UTC")
    day, nxt = DailyReset.parse("07:30 UTC").day(_ts("2026-11-25T07:00:00"))
    assert day == "2026-11-24" and nxt == _ts("2026-11-25T07:30:00")
