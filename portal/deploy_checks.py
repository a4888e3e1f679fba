"""Start-up checks of a production deployment: static files collected before serving pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

COLLECTSTATIC_HINT = (
    "Run `python manage.py collectstatic --noinput` (with the same settings) before starting "
    "gunicorn: with DEBUG off every page links its CSS and scripts through that manifest."
)


def missing_static_manifest() -> str | None:
    """The manifest file the hashed static storage needs, when it is missing; else None."""
    storage = staticfiles_storage
    if not isinstance(storage, ManifestFilesMixin):
        return None  # DEBUG or tests: plain storage, nothing to collect
    if storage.exists(storage.manifest_name):
        return None
    return str(settings.STATIC_ROOT / storage.manifest_name)


@register(Tags.staticfiles, deploy=True)
def check_static_collected(app_configs=None, **kwargs) -> list[Error]:
    """`manage.py check --deploy`: an error (not a 500 on every page later) when static files
    were not collected. Deploy-only, so `migrate` may run before `collectstatic`."""
    missing = missing_static_manifest()
    if missing is None:
        return []
    return [
        Error(
            f"Static files are not collected: {missing} does not exist.",
            hint=COLLECTSTATIC_HINT,
            id="portal.E001",
        )
    ]


def require_collected_static() -> None:
    """Called by the WSGI entry point: refuse to serve rather than answer a 500 on every page."""
    missing = missing_static_manifest()
    if missing is not None:
        raise ImproperlyConfigured(
            f"Static files are not collected ({missing} is missing). {COLLECTSTATIC_HINT}"
        )
