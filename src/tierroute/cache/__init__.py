"""The response cache: an exact layer, then a semantic layer guarded against near-miss traps.

The API layer calls ``lookup`` after auth and before routing, and ``store`` after a successful
answer. See ``config.CacheConfig`` for the settings and ``policy`` for how a semantic hit is decided.
"""

from .cli import cache_cli
from .config import CacheConfig
from .controls import CacheContext, CacheControls, parse_cache_controls
from .replay import replay_chunks
from .response_cache import CacheHit, ResponseCache, build_cache

__all__ = ["CacheConfig", "CacheContext", "CacheControls", "CacheHit", "ResponseCache", "build_cache",
           "cache_cli", "parse_cache_controls", "replay_chunks"]
