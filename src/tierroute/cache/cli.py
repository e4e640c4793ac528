"""``tierroute cache ...``: evaluate the cache policy on labelled pairs, purge a shared cache."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
import msgspec
import yaml

from .config import CacheConfig
from .pairs import read_pairs, split_of


def _load_cfg(path: str | None) -> CacheConfig:
    if not path:
        return CacheConfig()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise click.ClickException(f"cannot read config {path}: {exc.strerror}") from exc
    section = raw.get("cache", {}) if isinstance(raw, dict) else {}
    try:
        return msgspec.convert(section or {}, CacheConfig)
    except msgspec.ValidationError as exc:
        raise click.ClickException(f"{path}: cache: {exc} (see the field comments in tierroute/cache/config.py)") from exc


@click.group("cache")
def cache_cli() -> None:
    """The response cache: evaluate its policy, purge entries."""


@cache_cli.command("eval")
@click.option("--pairs", "files", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="A .jsonl or .jsonl.gz of {id, q1, q2, duplicate}; repeat for several files.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="tierroute.yaml whose cache: section sets the policy (default: built-in defaults).")
@click.option("--target-false-hit-rate", type=float, default=None, help="Override cache.target_false_hit_rate.")
@click.option("--split", type=click.Choice(["all", "tune", "rest"]), default="all",
              help="Only the pairs of one half (the calibration was fitted on 'tune').")
@click.option("--limit", type=int, default=None, help="Only the first N pairs of each file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the default prints a table).")
def eval_cmd(files: tuple[str, ...], config_path: str | None, target_false_hit_rate: float | None, split: str,
             limit: int | None, as_json: bool) -> None:
    """Fill a fresh cache with every q1, look up every q2, and report hit rate, precision, recall,
    false-hit rate and lookup latency (the protocol of the cache data README)."""
    from .evaluate import evaluate_pairs

    cfg = _load_cfg(config_path)
    if target_false_hit_rate is not None:
        cfg = msgspec.structs.replace(cfg, target_false_hit_rate=target_false_hit_rate)
    per_file = {}
    for f in files:
        try:
            pairs = read_pairs(f)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        if split != "all":
            pairs = [p for p in pairs if split_of(p.id) == split]
        if limit:
            pairs = pairs[:limit]
        per_file[f] = asyncio.run(evaluate_pairs(pairs, cfg, progress=lambda m: click.echo(m, err=True)))
    tot = {k: sum(r[k] for r in per_file.values()) for k in ("pairs", "duplicates", "hits", "correct_hits",
                                                             "false_hits")}
    negatives = tot["pairs"] - tot["duplicates"]
    p50 = [r["lookup_ms_p50"] for r in per_file.values() if r["lookup_ms_p50"] is not None]
    p95 = [r["lookup_ms_p95"] for r in per_file.values() if r["lookup_ms_p95"] is not None]
    out = {
        "hit_rate": tot["hits"] / tot["pairs"] if tot["pairs"] else 0.0,
        "precision": tot["correct_hits"] / tot["hits"] if tot["hits"] else 1.0,
        "recall": tot["correct_hits"] / tot["duplicates"] if tot["duplicates"] else 0.0,
        "false_hit_rate": tot["false_hits"] / negatives if negatives else None,
        "lookup_ms_p50": max(p50) if p50 else None,
        "lookup_ms_p95": max(p95) if p95 else None,
        **tot,
        "target_false_hit_rate": cfg.target_false_hit_rate,
        "files": per_file,
    }
    if as_json:
        click.echo(json.dumps(out))
        return
    for name, r in [*per_file.items(), ("all", out)]:
        fhr = "n/a" if r["false_hit_rate"] is None else f"{r['false_hit_rate']:.4f}"
        click.echo(f"{name}: hit_rate {r['hit_rate']:.3f} precision {r['precision']:.3f} recall {r['recall']:.3f} "
                   f"false_hit_rate {fhr} lookup p50 {r['lookup_ms_p50']} ms", file=sys.stdout)


@cache_cli.command("purge")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--tenant", default=None, help="Only this key's / team's entries.")
@click.option("--model", default=None, help="Only answers from this catalog model.")
def purge_cmd(config_path: str, tenant: str | None, model: str | None) -> None:
    """Drop cached answers (all of them when neither --tenant nor --model is given)."""
    from .response_cache import build_cache

    cfg = msgspec.structs.replace(_load_cfg(config_path), semantic=False)

    async def run() -> int:
        cache = build_cache(cfg)
        try:
            return await cache.purge(tenant=tenant, model=model)
        finally:
            await cache.close()

    click.echo(f"purged {asyncio.run(run())} entries")
