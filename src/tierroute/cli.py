"""The `tierroute` command line.

Subcommands are imported only when invoked, so `tierroute serve` does not pay for the imports of
`router train` (scikit-learn) or `report` and starts fast.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys

import click

# name -> "module:attribute" of a click command, loaded on first use
_LAZY: dict[str, str] = {
    "route": "tierroute.routing.cli:route_cmd",
    "router": "tierroute.routing.cli:router_group",
    "cache": "tierroute.cache.cli:cache_cli",
    "report": "tierroute.usage.cli:report_cmd",
    "cost": "tierroute.usage.cli:cost_cmd",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _LAZY:
            module, attr = _LAZY[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="tierroute")
def main() -> None:
    """tierroute: one OpenAI-compatible endpoint in front of many LLM providers."""


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _load(config: str | None, host: str | None = None):  # type: ignore[no-untyped-def]
    from tierroute.config import ConfigError, load_settings

    try:
        return load_settings(config, host=host)
    except ConfigError as e:
        click.echo(f"tierroute: configuration error\n{e}", err=True)
        sys.exit(2)


def _run(coro) -> None:  # type: ignore[no-untyped-def]
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)


@main.command()
@click.option("--config", "config", type=click.Path(), default=None, help="config/tierroute.yaml to use")
@click.option("--port", type=int, default=None, help="port (default: server.port, 4000)")
@click.option("--host", default=None, help="address to listen on (default: server.host)")
def serve(config: str | None, port: int | None, host: str | None) -> None:
    """Start the gateway."""
    # --host goes through the loader, so the address bound is the one it checked (no master key:
    # loopback only).
    settings = _load(config, host)
    server = settings.gateway.server
    _setup_logging(server.log_level)
    from tierroute.api.app import serve as serve_app
    from tierroute.config import ConfigError
    from tierroute.gateway import Gateway

    try:
        gw = Gateway(settings)
    except ConfigError as e:
        click.echo(f"tierroute: configuration error\n{e}", err=True)
        sys.exit(2)
    _run(serve_app(gw, server.host, port if port is not None else server.port))


@main.command()
@click.option("--port", type=int, default=8900, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--config", "config", type=click.Path(exists=True), default=None,
              help="simulator YAML: per-model latency, tokens/s, context window, faults, seed")
def simulate(port: int, host: str, config: str | None) -> None:
    """Run the provider simulator (OpenAI, Anthropic and Gemini dialects) on its own."""
    from tierroute.sim.server import run

    run(host, port, config)


@main.group("config")
def config_group() -> None:
    """Inspect and validate configuration."""


@config_group.command("check")
@click.option("--config", "config", type=click.Path(), default=None)
def config_check(config: str | None) -> None:
    """Validate config/tierroute.yaml and every file it names, as `serve` does at start-up."""
    from tierroute.config import ConfigError
    from tierroute.gateway import Gateway

    settings = _load(config)
    try:
        Gateway(settings)  # builds routing rules, rate limits, cache and usage settings: all validated
    except ConfigError as e:
        click.echo(f"tierroute: configuration error\n{e}", err=True)
        sys.exit(2)
    cat = settings.catalog
    click.echo(f"{settings.path}: OK ({len(cat.enabled())} chat models, "
               f"{len(cat.deployments())} deployments{', offline: simulator' if settings.offline else ''})")


@main.group("keys")
def keys_group() -> None:
    """Virtual keys: one per team or agent, with a budget, a routing preference and a cache switch."""


def _key_store(config: str | None):  # type: ignore[no-untyped-def]
    from tierroute.keys import KeysConfig, KeyStore

    settings = _load(config)
    return KeyStore(settings.section("keys", KeysConfig).path)


@keys_group.command("create")
@click.option("--name", required=True, help="who the key is for (shown in reports)")
@click.option("--budget-usd", type=click.FloatRange(min=0), default=None, help="spend cap per period")
@click.option("--period", type=click.Choice(["day", "month"]), default="month", show_default=True)
@click.option("--willingness-to-pay", "wtp", type=click.FloatRange(0, 1), default=None,
              help="default share of hard requests worth a strong model (0..1)")
@click.option("--no-cache", is_flag=True, help="never answer this key from the response cache")
@click.option("--models", default=None, help="comma-separated models, aliases or tiers this key may use")
@click.option("--config", "config", type=click.Path(), default=None)
def keys_create(name: str, budget_usd: float | None, period: str, wtp: float | None, no_cache: bool,
                models: str | None, config: str | None) -> None:
    """Create a key and print it once (only its hash is stored)."""
    key, info = _key_store(config).create(name, budget_usd=budget_usd, budget_period=period,
                                          willingness_to_pay=wtp, cache=not no_cache,
                                          models=[m.strip() for m in models.split(",")] if models else None)
    click.echo(f"{info.id}  {key}\n(store the key now: it is not shown again)")


@keys_group.command("list")
@click.option("--config", "config", type=click.Path(), default=None)
def keys_list(config: str | None) -> None:
    """List keys (never the keys themselves)."""
    for k in _key_store(config).list():
        budget = f"${k.budget_usd:g}/{k.budget_period}" if k.budget_usd is not None else "no budget"
        state = "revoked" if k.revoked else "active"
        click.echo(f"{k.id}  {k.name:<20} {state:<8} {budget:<16} cache={'on' if k.cache else 'off'}"
                   f"  models={','.join(k.models) if k.models else 'all'}")


@keys_group.command("revoke")
@click.argument("key_id")
@click.option("--config", "config", type=click.Path(), default=None)
def keys_revoke(key_id: str, config: str | None) -> None:
    """Revoke a key by its id (key_...); takes effect within seconds, without a restart."""
    if not _key_store(config).revoke(key_id):
        click.echo(f"no active key {key_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked {key_id}")
