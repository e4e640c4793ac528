"""``tierroute cost``: premium-only against routed cost, checked against hand-computed numbers on
a catalog with known prices (opus 15/75, coder 0.20/0.60, flash 0.10/0.40, freebie 0/0 per 1M)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from usage_helpers import priced_traffic

from tierroute.usage import UsageConfig, UsageMetrics, build_recorder, usage_cli
from tierroute.usage.calculator import CalcError, TaskLoad, Workload, calculate

approx = pytest.approx


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(usage_cli["cost"], args)


def test_weighted_mix_by_hand(settings: Any) -> None:
    wl = Workload(tasks={"coding": TaskLoad(share=50), "documentation": TaskLoad(share=30),
                         "reasoning": TaskLoad(share=20)},
                  requests_per_day=1000, prompt_tokens=1000, completion_tokens=500)  # fmt: skip
    res = calculate(settings.catalog, wl, "opus")
    rows = {r["task"]: r for r in res["rows"]}
    # Routed without rules: the cheapest standard model whose strengths hold the task.
    assert {t: r["routed_model"] for t, r in rows.items()} == {
        "coding": "coder", "documentation": "flash", "reasoning": "freebie"}  # fmt: skip
    # opus: 1000*15 + 500*75 = 52,500 per 1M -> $0.0525 a request, $0.035 per 1K tokens
    assert rows["coding"]["baseline_per_1k"] == approx(0.035)
    assert rows["coding"]["routed_per_1k"] == approx(0.0005 / 1.5)
    assert rows["coding"]["baseline_per_day"] == approx(26.25)
    assert rows["coding"]["routed_per_day"] == approx(0.25)
    assert rows["documentation"]["routed_per_day"] == approx(300 * 0.0003)
    assert rows["reasoning"]["routed_per_day"] == 0
    t = res["total"]
    assert t["baseline_per_day"] == approx(52.5)
    assert t["routed_per_day"] == approx(0.34)
    assert t["saving_pct"] == approx(100 * (1 - 0.34 / 52.5))
    assert res["baseline_per_month"] == approx(1575.0)


def test_cli_flags_model_for_and_table(config_dir: Path) -> None:
    res = _run(["--config", str(config_dir / "tierroute.yaml"), "--mix", "coding=1,architecture=1",
                "--requests-per-day", "100", "--prompt-tokens", "2000", "--completion-tokens", "0",
                "--model-for", "architecture=opus", "--model-for", "coding=flash"])  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    arch = next(ln for ln in lines if ln.startswith("architecture")).split()
    assert arch[3] == "opus" and arch[-1] == "0.0%" and arch[-3] == arch[-2] == "$1.50"  # 50 * 2000 * 15/1M
    coding = next(ln for ln in lines if ln.startswith("coding")).split()
    assert coding[3] == "flash" and coding[-2] == "$0.01"  # 50 * 2000 * 0.10/1M
    total = next(ln for ln in lines if ln.startswith("TOTAL")).split()
    assert total[-3:] == ["$3.00", "$1.51", f"{100 * (1 - 1.51 / 3):.1f}%"]


def test_workload_file_with_per_task_tokens(config_dir: Path, tmp_path: Path) -> None:
    wl = tmp_path / "wl.yaml"
    wl.write_text("requests_per_day: 200\nbaseline: opus\ntasks:\n"
                  "  coding: {share: 3, prompt_tokens: 4000, completion_tokens: 1000}\n"
                  "  chat: {share: 1, model: freebie}\n")  # fmt: skip
    res = _run(["--config", str(config_dir / "tierroute.yaml"), "--workload", str(wl), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    coding = next(r for r in out["rows"] if r["task"] == "coding")
    assert coding["requests_per_day"] == approx(150)
    assert coding["baseline_per_day"] == approx(150 * (4000 * 15 + 1000 * 75) / 1e6)
    assert coding["routed_per_day"] == approx(150 * (4000 * 0.2 + 1000 * 0.6) / 1e6)
    chat = next(r for r in out["rows"] if r["task"] == "chat")
    assert chat["routed_model"] == "freebie" and chat["prompt_tokens"] == 1000  # workload default


def test_from_usage_takes_the_recorded_mix(config_dir: Path, settings: Any, tmp_path: Path) -> None:
    import time

    db = tmp_path / "u.db"

    async def fill() -> None:
        rec = build_recorder(UsageConfig(sqlite_path=str(db), spill_dir=str(tmp_path / "s")), UsageMetrics())
        await rec.start()
        now = time.time()
        for e in priced_traffic(settings.catalog):
            e.ts = now - 3 * 86400 + e.ts % 86400 / 100  # spread inside the window
            rec.record(e)
        await rec.close()

    asyncio.run(fill())
    res = _run(["--config", str(config_dir / "tierroute.yaml"), "--from-usage", "--sqlite-path", str(db),
                "--since", "30d", "--json", "--requests-per-day", "600"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    rows = {r["task"]: r for r in out["rows"]}
    assert rows["coding"]["share"] == approx(2 / 6)
    assert rows["coding"]["prompt_tokens"] == 1500 and rows["coding"]["completion_tokens"] == 750
    assert rows["reasoning"]["prompt_tokens"] == 250  # the rejected request counts, with 0 tokens
    assert out["total"]["requests_per_day"] == 600


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model-for", "coding=gpt-99"], "unknown model 'gpt-99'"),
        (["--model-for", "coding"], "TASK=MODEL"),
        (["--mix", "coding"], "task=weight"),
        (["--mix", "coding=0"], "more than 0"),
        (["--baseline", "nope"], "unknown model 'nope'"),
        (["--workload", "/nonexistent.yaml"], "cannot read"),
    ],
)
def test_bad_input_is_named(config_dir: Path, args: list[str], needle: str) -> None:
    res = _run(["--config", str(config_dir / "tierroute.yaml"), *args])
    assert res.exit_code == 2, res.output
    assert needle in res.output


def test_negative_share_refused(settings: Any) -> None:
    with pytest.raises(CalcError, match=r"tasks\.coding\.share"):
        calculate(
            settings.catalog,
            Workload(tasks={"coding": TaskLoad(share=-1), "chat": TaskLoad(share=2)}),
            "opus",
        )


def test_routed_model_comes_from_the_routing_rules(config_dir: Path) -> None:
    def routed(complexity: str) -> dict[str, tuple[str, str]]:
        res = _run(["--config", str(config_dir / "tierroute.yaml"), "--json", "--complexity", complexity,
                    "--mix", "coding=1,reasoning=1,documentation=1,chat=1,vision=1"])  # fmt: skip
        assert res.exit_code == 0, res.output
        return {r["task"]: (r["routed_model"], r["why"]) for r in json.loads(res.output)["rows"]}

    hard = routed("0.8")
    assert hard["reasoning"] == ("opus", "rule:reasoning-hard")
    assert hard["coding"] == ("coder", "rule:coding")  # a cascade is priced at its first model
    assert hard["vision"] == ("flash", "rule:vision")
    assert hard["chat"] == ("flash", "cheapest standard")  # no rule for chat in this file
    assert routed("0.2")["reasoning"] == ("freebie", "rule:reasoning")
