"""The trust anchors (official IGC Santé CA certificates) loaded from settings.TRUST_ANCHORS_DIR.

Parsing the directory has a cost that an import of a thousand files must not pay a
thousand times: the store is cached per directory and rebuilt when a file in it changes
(names, sizes and mtimes form the cache key), so an operator dropping a new ANS CA file and
tests switching the directory both get a fresh store without a restart.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from django.conf import settings

from certificates import x509

logger = logging.getLogger(__name__)

_Stamp = tuple[tuple[str, int, int], ...]
_cache: dict[str, tuple[_Stamp, x509.TrustStore]] = {}
_lock = threading.Lock()


def _stamp(directory: Path) -> _Stamp | None:
    """What changes when a trust file is added, removed or rewritten; None if no directory."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return None
    stamp = []
    for entry in entries:
        if entry.is_file():
            stat = entry.stat()
            stamp.append((entry.name, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(stamp))


def trust_store(directory: str | Path | None = None) -> x509.TrustStore:
    """The cached store of `directory` (default settings.TRUST_ANCHORS_DIR).

    A missing directory gives an empty store (every chain then fails, loudly in the log);
    an unreadable file raises `x509.X509Error`, because silently trusting less is worse.
    """
    path = Path(directory if directory is not None else settings.TRUST_ANCHORS_DIR)
    key = str(path.resolve())
    stamp = _stamp(path)
    if stamp is None:
        logger.warning("Trust anchors directory %s does not exist: no chain can be trusted", path)
        return x509.TrustStore([])
    cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        store = x509.TrustStore.from_directory(path)
        _cache[key] = (stamp, store)
        logger.info(
            "Loaded %d root(s) and %d intermediate(s) from %s",
            len(store.roots),
            len(store.intermediates),
            path,
        )
        return store
