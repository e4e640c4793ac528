"""Configuration: load and validate the YAML files (see ``loader``) into ``Settings``."""

from tierroute.config.loader import ConfigError, Settings, fallback_chain, load_settings

__all__ = ["ConfigError", "Settings", "fallback_chain", "load_settings"]
