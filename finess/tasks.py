"""Celery tasks of the FINESS referential: the monthly refresh (download or dropped file)."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

from finess.models import Refresh, RefreshStatus
from finess.services import _sha256, referential_import

logger = logging.getLogger(__name__)

DROPPED_SUFFIXES = (".csv", ".json", ".gz", ".txt")


def dropped_file() -> Path | None:
    """The newest FINESS file dropped in FINESS_DROP_DIR (offline mode), if any."""
    folder = Path(settings.FINESS_DROP_DIR)
    if not folder.is_dir():
        return None
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DROPPED_SUFFIXES]
    return max(files, key=lambda p: (p.stat().st_mtime, p.name), default=None)


@shared_task(name="finess.tasks.refresh_referential")
def refresh_referential() -> int | None:
    """Load FINESS_URL, or offline the newest file of FINESS_DROP_DIR not loaded yet.

    Safe to run twice: a dropped file already loaded (same SHA-256) is not loaded again.
    Returns the Refresh id (None when there was nothing to load).
    """
    if settings.FINESS_URL:
        return referential_import(source=settings.FINESS_URL).pk
    path = dropped_file()
    if path is None:
        logger.info("FINESS refresh: no FINESS_URL and no file in %s", settings.FINESS_DROP_DIR)
        return None
    digest = _sha256(path)
    if Refresh.objects.filter(status=RefreshStatus.DONE, file_sha256=digest).exists():
        logger.info("FINESS refresh: %s already loaded", path)
        return None
    return referential_import(source=str(path)).pk
