"""Template context shared by every page: the user's scope."""

from django.http import HttpRequest

from portal.tenancy import user_scope


def tenant(request: HttpRequest) -> dict:
    """Expose the user's scope to templates (menus depend on role)."""
    return {"scope": user_scope(getattr(request, "user", None))}
