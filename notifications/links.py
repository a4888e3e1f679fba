"""Absolute links put in e-mails, webhooks and calendars."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.urls import reverse

from portal.permissions import is_portal_user


def user_or_none(actor: Any) -> Any:
    """The actor when it is a portal user (an API key or None is recorded as no user)."""
    return actor if is_portal_user(actor) else None


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


_PLACEHOLDER = "987654321"


@lru_cache(maxsize=4)
def _certificate_path_parts(urlconf: str) -> tuple[str, str]:
    """What comes before and after the id in a certificate page's path: `reverse()` runs
    once per process (the first call also loads the URLconf), not once per link."""
    prefix, found, suffix = reverse("certificates:detail", args=[_PLACEHOLDER]).partition(
        _PLACEHOLDER
    )
    if not found:  # pragma: no cover - the pattern no longer shows the id as is
        raise ValueError("certificates:detail does not put the id in its path")
    return prefix, suffix


def certificate_path(pk: int) -> str:
    """The certificate page, e.g. "/certificates/42/"."""
    prefix, suffix = _certificate_path_parts(settings.ROOT_URLCONF)
    return f"{prefix}{int(pk)}{suffix}"


def certificate_url(pk: int) -> str:
    return absolute(certificate_path(pk))
