"""A Redis cache that falls back to a per-process memory cache while Redis is unreachable.

The cache only holds rate-limit counters and lockouts (API throttling, login limits): when
Redis (broker and cache in the compose layout) is down they must not turn every login and
API call into a 500. While Redis fails, each process counts on its own (a local limit, as
with no CACHE_URL), logs one warning per outage, and tries Redis again after a pause.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Seconds during which a failed Redis is not asked again (each try may cost a timeout).
RETRY_AFTER = 15.0
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
# Short socket timeouts unless CACHES says otherwise: a dead Redis must fail fast.
DEFAULT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}


class ResilientRedisCache(RedisCache):
    """django's RedisCache; each operation goes to local memory while Redis is unreachable."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = {**DEFAULT_OPTIONS, **(params.get("OPTIONS") or {})}
        super().__init__(server, {**params, "OPTIONS": options})
        self._fallback = LocMemCache(f"resilient:{server}", {"TIMEOUT": params.get("TIMEOUT", 300)})
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._down_until

    def _either(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if not self.degraded:
            try:
                result = getattr(super(), name)(*args, **kwargs)
            except _UNREACHABLE as exc:
                if not self._down_until:  # once per outage
                    logger.warning(
                        "Cache (Redis) unreachable, rate limits and lockouts are counted per "
                        "process until it is back: %s",
                        exc,
                    )
                self._down_until = time.monotonic() + RETRY_AFTER
            else:
                if self._down_until:
                    logger.warning("Cache (Redis) reachable again")
                    self._down_until = 0.0
                return result
        return getattr(self._fallback, name)(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("add", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("get", *args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("set", *args, **kwargs)

    def touch(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("touch", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("delete", *args, **kwargs)

    def get_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("get_many", *args, **kwargs)

    def has_key(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("has_key", *args, **kwargs)

    def incr(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("incr", *args, **kwargs)

    def set_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("set_many", *args, **kwargs)

    def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._either("delete_many", *args, **kwargs)

    def clear(self) -> Any:
        self._fallback.clear()
        return self._either("clear")
