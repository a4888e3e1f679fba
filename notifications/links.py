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


_PLACEHOLDER = 987654321


@lru_cache(maxsize=4)
def _certificate_path_pattern(urlconf: str) -> str:
    path = reverse("certificates:detail", args=[_PLACEHOLDER])
    return path.replace(str(_PLACEHOLDER), "{pk}")


def certificate_path(pk: int) -> str:
    """The certificate page (reversed once per process: digests list thousands of them)."""
    return _certificate_path_pattern(settings.ROOT_URLCONF).format(pk=int(pk))


def certificate_url(pk: int) -> str:
    return absolute(certificate_path(pk))
