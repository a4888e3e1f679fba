"""Security middleware: a strict Content-Security-Policy and mandatory MFA for editor staff."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from portal.tenancy import user_scope

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """No inline script, nothing from another origin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response


# Paths an editor admin or operator may reach before enrolling TOTP.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/i18n/", "/api/", "/invitations/", "/favicon")
MFA_ROLES = ("admin", "operator")
_SESSION_FLAG = "mfa_enrolled"


class RequireMFAMiddleware:
    """Editor admins and operators cannot reach tenant pages until they have enrolled TOTP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_enrol(request):
            return redirect("mfa_activate_totp")
        return self.get_response(request)

    def _must_enrol(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_authenticated or request.session.get(_SESSION_FLAG):
            return False
        path = request.path_info
        if path.startswith(MFA_EXEMPT_PREFIXES) or path.startswith(settings.STATIC_URL):
            return False
        if user_scope(user).role not in MFA_ROLES:
            return False
        if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            request.session[_SESSION_FLAG] = True
            return False
        return True


class RequestSizeLimitMiddleware:
    """Refuse bodies larger than MAX_UPLOAD_SIZE before reading them: a clear 413, nothing changed."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.MAX_UPLOAD_SIZE + 64 * 1024  # room for the multipart envelope
        if length > limit:
            return self.too_large(request)
        return self.get_response(request)

    def too_large(self, request: HttpRequest) -> HttpResponse:
        import json

        from django.template.loader import render_to_string
        from django.utils.translation import gettext as _

        megabytes = settings.MAX_UPLOAD_SIZE // (1024 * 1024)
        detail = _("The file is too large: the limit is %(size)s MB.") % {"size": megabytes}
        if request.path_info.startswith("/api/"):
            body = {"type": "/api/v1/problems/too-large", "title": _("Too large"), "status": 413,
                    "detail": detail}
            return HttpResponse(json.dumps(body), status=413,
                                content_type="application/problem+json")
        html = render_to_string("413.html", {"detail": detail}, request=request)
        return HttpResponse(html, status=413)
