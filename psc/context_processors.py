"""Template context: whether Pro Santé Connect is configured (account security page)."""

from django.conf import settings

from psc.provider import PROVIDER_ID


def psc(request) -> dict:
    return {"psc_enabled": bool(settings.SOCIALACCOUNT_PROVIDERS.get(PROVIDER_ID))}
