"""Worker side of large CSV imports: thin tasks taking the import id, safe to run twice.

Enqueue through `portal.outbox.enqueue("officines.tasks.<name>", import_id=...)`.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from officines.csv_import import stored

RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(**RETRY)
def officine_import_validate(import_id: int) -> None:
    """Check every row of a stored import and keep the preview (only from "validating")."""
    stored.officine_import_validate(import_id=import_id)


@shared_task(**RETRY)
def officine_import_apply(import_id: int) -> None:
    """Write a confirmed import (only from "importing"; the import row is locked meanwhile)."""
    stored.officine_import_apply(import_id=import_id)
