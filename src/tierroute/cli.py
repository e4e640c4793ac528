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


def _load(config: str | None):  # type: ignore[no-untyped-def]
    from tierroute.config import ConfigError, load_settings

    try:
        return load_settings(config)
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
    settings = _load(config)
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
    _run(serve_app(gw, host or server.host, port if port is not None else server.port))


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
