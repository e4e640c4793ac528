"""``tierroute report`` and ``tierroute cost``. The lead adds each with ``main.add_command(cmd, name)``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import click
import msgspec
import yaml

from tierroute.usage import reports, tables
from tierroute.usage.build import build_store
from tierroute.usage.calculator import (
    CalcError,
    TaskLoad,
    Workload,
    calculate,
    parse_mix,
    workload_from_usage,
)
from tierroute.usage.config import UsageConfig

_store_opts = [
    click.option(
        "--config", "config_path", default=None, help="tierroute.yaml (default: the usual search path)."
    ),
    click.option(
        "--database-url", default=None, help="Read this PostgreSQL database instead of the config's."
    ),
    click.option("--sqlite-path", default=None, help="Read this SQLite file instead of the config's."),
    click.option("--table-prefix", default=None, help="Table prefix, if the store uses one."),
]


def _with_store_opts(f: Any) -> Any:
    for opt in reversed(_store_opts):
        f = opt(f)
    return f


def _load_settings(config_path: str | None) -> Any:
    from tierroute.config.loader import ConfigError, load_settings

    try:
        return load_settings(config_path)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _usage_config(config_path: str | None, database_url: str | None, sqlite_path: str | None,
                  table_prefix: str | None) -> UsageConfig:  # fmt: skip
    if database_url or sqlite_path:
        cfg = UsageConfig(database_url=database_url, sqlite_path=sqlite_path or "tierroute-usage.db")
    else:
        cfg = _load_settings(config_path).section("usage", UsageConfig)
    if table_prefix is not None:
        cfg = msgspec.structs.replace(cfg, table_prefix=table_prefix)
    if not cfg.database_url and not Path(cfg.sqlite_path).exists():
        raise click.ClickException(f"no usage database at {cfg.sqlite_path}: serve some traffic first, "
                                   "or point --sqlite-path / --database-url at the gateway's store")  # fmt: skip
    return cfg


async def _with_store(cfg: UsageConfig, fn: Any) -> Any:
    store = build_store(cfg)
    try:
        await store.open()
        return await fn(store)
    finally:
        await store.close()


def _rules(settings: Any) -> Any:
    from tierroute.config.loader import ConfigError
    from tierroute.routing.rules import load_rules

    try:
        return load_rules(settings.routing_rules_path, settings.catalog)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def savings_table(rows: list[dict[str, Any]], title: str) -> str:
    return tables.render(
        ["Task type", "Requests", "Tokens", "Premium-only $/1K", "tierroute $/1K", "Saving"],
        [[r["task"], r["requests"], f"{r['tokens']:,}", tables.usd(r["baseline_per_1k"], 5),
          tables.usd(r["cost_per_1k"], 5), tables.pct(r["saving_pct"])] for r in rows],
        title,
    )  # fmt: skip


def summary_table(rows: list[dict[str, Any]], by: str, bucketed: bool) -> str:
    head = (["Bucket (UTC)"] if bucketed else []) + [
        by.capitalize(), "Requests", "Prompt tok", "Cached tok", "Compl tok", "Cost", "Baseline", "Saved",
        "by routing", "by vendor cache", "by response cache", "Cache hits", "Fallbacks", "Errors", "Avg ms",
    ]  # fmt: skip
    body = []
    for r in rows:
        b = [time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["bucket"]))] if bucketed else []
        body.append(b + [r[by], r["requests"], f"{r['prompt_tokens']:,}", f"{r['cache_read_tokens']:,}",
                         f"{r['completion_tokens']:,}", tables.usd(r["cost_usd"]), tables.usd(r["baseline_cost_usd"]),
                         tables.usd(r["savings_usd"]), tables.usd(r["routing_saved_usd"]),
                         tables.usd(r["provider_cache_saved_usd"]), tables.usd(r["response_cache_saved_usd"]),
                         r["cache_hits"], r["fallbacks"], r["errors"],
                         f"{r['latency_avg_ms']:.0f}"])  # fmt: skip
    return tables.render(head, body, f"Usage by {by}")


@click.command("report")
@click.option("--since", default="7d", show_default=True, help="Window: 30m, 24h, 7d, 2w ...")
@click.option(
    "--by", type=click.Choice(["task", "model", "provider", "key"]), default="task", show_default=True
)
@click.option("--bucket", type=click.Choice(["hour", "day"]), default=None, help="Also split by time bucket.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@_with_store_opts
def report_cmd(since: str, by: str, bucket: str | None, as_json: bool, config_path: str | None,
               database_url: str | None, sqlite_path: str | None, table_prefix: str | None) -> None:  # fmt: skip
    """Usage, cost and savings from the usage store, and the premium-only vs tierroute table per task."""
    try:
        since_s = reports.parse_since(since)
    except reports.ReportError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    cfg = _usage_config(config_path, database_url, sqlite_path, table_prefix)

    async def go(store: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return (await reports.usage_summary(store, by, bucket, since_s),
                await reports.task_savings(store, since_s))  # fmt: skip

    rows, savings = asyncio.run(_with_store(cfg, go))
    if as_json:
        click.echo(json.dumps({"by": by, "bucket": bucket, "rows": rows, "savings": savings}, indent=2))
        return
    if not rows:
        click.echo(f"No requests recorded in the last {since}.")
        return
    click.echo(summary_table(rows, by, bucket is not None))
    click.echo()
    click.echo(savings_table(savings, f"Premium-only vs tierroute, last {since} (recorded traffic)"))


def _workload_file(path: str) -> Workload:
    try:
        data = yaml.safe_load(Path(path).read_text())
        return msgspec.convert(data, Workload)
    except OSError as e:
        raise click.BadParameter(f"cannot read {path}: {e.strerror}", param_hint="--workload") from None
    except (yaml.YAMLError, msgspec.ValidationError) as e:
        raise click.BadParameter(f"{path}: {e} (expected keys: tasks: {{coding: {{share: 40}}}}, "
                                 "requests_per_day, prompt_tokens, completion_tokens, baseline)",
                                 param_hint="--workload") from None  # fmt: skip


def cost_table(result: dict[str, Any], title: str) -> str:
    rows = [*result["rows"], result["total"]]
    return tables.render(
        ["Task type", "Share", "Req/day", "Routed to", "Because", "Premium-only $/1K", "tierroute $/1K",
         "Premium $/day", "tierroute $/day", "Saving"],
        [[r["task"], tables.pct(r["share"] * 100), f"{r['requests_per_day']:,.0f}", r["routed_model"], r["why"],
          tables.usd(r["baseline_per_1k"], 5), tables.usd(r["routed_per_1k"], 5),
          tables.usd(r["baseline_per_day"], 2), tables.usd(r["routed_per_day"], 2),
          tables.pct(r["saving_pct"])] for r in rows],
        title,
    )  # fmt: skip


@click.command("cost")
@click.option("--workload", "workload_path", default=None, help="YAML workload file (tasks, shares, tokens).")
@click.option("--mix", default=None, help="Task mix as weights, e.g. coding=40,documentation=30,chat=30.")
@click.option("--requests-per-day", type=float, default=None)
@click.option("--prompt-tokens", type=click.IntRange(min=0), default=None, help="Input tokens per request.")
@click.option(
    "--completion-tokens", type=click.IntRange(min=0), default=None, help="Output tokens per request."
)
@click.option(
    "--baseline", default=None, help="Premium model to compare against (default: config baseline_model)."
)
@click.option(
    "--model-for",
    multiple=True,
    metavar="TASK=MODEL",
    help="Model a task type is routed to (default: the routing rules' choice).",
)
@click.option(
    "--complexity",
    type=click.FloatRange(0, 1),
    default=None,
    help="Complexity of the requests, for the routing rules (default 0.3).",
)
@click.option("--from-usage", is_flag=True, help="Take the mix and token sizes from the usage store.")
@click.option("--since", default="30d", show_default=True, help="Window for --from-usage.")
@click.option("--json", "as_json", is_flag=True)
@_with_store_opts
def cost_cmd(workload_path: str | None, mix: str | None, requests_per_day: float | None, prompt_tokens: int | None,
             completion_tokens: int | None, baseline: str | None, model_for: tuple[str, ...], from_usage: bool,
             complexity: float | None, since: str, as_json: bool, config_path: str | None, database_url: str | None,
             sqlite_path: str | None, table_prefix: str | None) -> None:  # fmt: skip
    """Price a workload premium-only and routed through tierroute, per task type and weighted."""
    settings = _load_settings(config_path)
    try:
        if from_usage:
            cfg = _usage_config(config_path, database_url, sqlite_path, table_prefix)
            since_s = reports.parse_since(since)
            wl = asyncio.run(_with_store(cfg, lambda s: workload_from_usage(s, since_s)))
        elif workload_path:
            wl = _workload_file(workload_path)
        else:
            weights = parse_mix(mix or "coding=40,documentation=25,chat=20,reasoning=10,architecture=5")
            wl = Workload(tasks={t: TaskLoad(share=w) for t, w in weights.items()})
        if mix and (from_usage or workload_path):
            raise CalcError(
                "give the mix either with --mix, --workload or --from-usage, not two of them", "--mix"
            )
        updates: dict[str, Any] = {}
        if requests_per_day is not None:
            updates["requests_per_day"] = requests_per_day
        if prompt_tokens is not None:
            updates["prompt_tokens"] = prompt_tokens
        if completion_tokens is not None:
            updates["completion_tokens"] = completion_tokens
        if complexity is not None:
            updates["complexity"] = complexity
        if updates:
            wl = msgspec.structs.replace(wl, **updates)
        mf: dict[str, str] = {}
        for item in model_for:
            task, sep, model = item.partition("=")
            if not sep or not task or not model:
                raise CalcError(f"'{item}' is not TASK=MODEL (e.g. coding=deepseek-v3)", "--model-for")
            mf[task.strip()] = model.strip()
        base = baseline or wl.baseline or settings.gateway.baseline_model
        result = calculate(settings.catalog, wl, base, mf, _rules(settings))
    except CalcError as e:
        raise click.BadParameter(str(e)) from None
    except reports.ReportError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(cost_table(result, f"Cost: premium-only ({result['baseline_model']}) vs tierroute routing"))
    click.echo()
    click.echo(f"Per month (30 days): premium-only {tables.usd(result['baseline_per_month'], 2)}, "
               f"tierroute {tables.usd(result['routed_per_month'], 2)}, "
               f"saving {tables.pct(result['total']['saving_pct'])}")  # fmt: skip


usage_cli: dict[str, click.Command] = {"report": report_cmd, "cost": cost_cmd}
