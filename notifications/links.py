"""Absolute links put in e-mails, webhooks and calendars."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse


def user_or_none(actor: Any) -> Any:
    """The actor when it is a portal user (an API key or None is recorded as no user)."""
    meta = getattr(actor, "_meta", None)
    return actor if meta is not None and meta.label == settings.AUTH_USER_MODEL else None


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def certificate_path(pk: int) -> str:
    """The certificate page; built by hand while the `certificates:detail` route is absent."""
    try:
        return reverse("certificates:detail", args=[pk])
    except NoReverseMatch:
        return f"/certificates/{pk}/"


def certificate_url(pk: int) -> str:
    return absolute(certificate_path(pk))
