"""Security middleware: a strict Content-Security-Policy, mandatory MFA for editor staff, and a
clean 503 while the database is unreachable."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from portal.api.problems import problem_response
from portal.tenancy import user_scope

logger = logging.getLogger(__name__)


def content_security_policy() -> str:
    """Nothing from another origin; forms may lead only here and to the identity provider's
    authorization endpoint (CSP_FORM_ACTION_ORIGINS: a login form answers with a redirect
    there, and browsers apply form-action to redirects too)."""
    form_action = " ".join(["'self'", *settings.CSP_FORM_ACTION_ORIGINS])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            f"form-action {form_action}",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    """No inline script, nothing from another origin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        return response


# Paths an editor admin or operator may reach before enrolling TOTP.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/i18n/", "/api/", "/invitations/", "/favicon")
MFA_ROLES = ("admin", "operator")
_SESSION_FLAG = "mfa_enrolled"


class RequireMFAMiddleware:
    """Editor admins and operators cannot reach tenant pages until they have enrolled TOTP
    (pages are redirected to the enrolment page; background requests are not: see
    `enrolment_answer`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_enrol(request):
            return enrolment_answer(request)
        return self.get_response(request)

    def _must_enrol(self, request: HttpRequest) -> bool:
        if not request.user.is_authenticated:
            return False
        path = request.path_info
        if path.startswith(MFA_EXEMPT_PREFIXES) or path.startswith(settings.STATIC_URL):
            return False
        return needs_mfa_enrolment(request.user, request.session)


def is_background_request(request: HttpRequest) -> bool:
    """A request the browser sends by itself (htmx fragment, badge, poll, fetch), not a page the
    person asked for: it must never be redirected into, nor render, the enrolment page."""
    if request.headers.get("HX-Request") == "true":
        return True
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    mode = request.headers.get("Sec-Fetch-Mode")
    return mode is not None and mode != "navigate"


def enrolment_answer(request: HttpRequest) -> HttpResponse:
    """Where a person who must enrol TOTP first is sent.

    A navigation is redirected to the enrolment page. An htmx request gets a 204 (htmx swaps
    nothing), with `HX-Redirect` when it stands for a navigation (boosted link or form, or a
    form posted through htmx), so the browser loads the enrolment page itself. Any other
    background request gets a 401. Neither renders the enrolment page, whose GET would
    otherwise be one more reason to draw its secret.
    """
    if not is_background_request(request):
        return redirect("mfa_activate_totp")
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        if request.headers.get("HX-Boosted") == "true" or request.method != "GET":
            response["HX-Redirect"] = reverse("mfa_activate_totp")
        return response
    response = HttpResponse(
        "Two-factor authentication must be enrolled first.",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Session realm="portal"'
    return response


def mark_mfa_satisfied(session) -> None:
    """A login that is strong authentication by itself (Pro Santé Connect: CPS card or e-CPS)
    needs no TOTP enrolment for this session."""
    session[_SESSION_FLAG] = True


def needs_mfa_enrolment(user, session) -> bool:
    """An editor admin or operator without TOTP yet; once enrolled, the session remembers it
    so pages and the API stop asking the database."""
    if session is not None and session.get(_SESSION_FLAG):
        return False
    if user_scope(user).role not in MFA_ROLES:
        return False
    if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        if session is not None:
            session[_SESSION_FLAG] = True
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
        from django.template.loader import render_to_string
        from django.utils.translation import gettext as _

        megabytes = settings.MAX_UPLOAD_SIZE // (1024 * 1024)
        detail = _("The file is too large: the limit is %(size)s MB.") % {"size": megabytes}
        if request.path_info.startswith("/api/"):
            return problem_response(
                request, slug="payload-too-large", status_code=413, detail=detail
            )
        html = render_to_string("413.html", {"detail": detail}, request=request)
        return HttpResponse(html, status=413)


# --------------------------------------------------------------------------- database outage

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30
_FLAG = "_database_unavailable"


def _mark_database_error(sender: object, request: HttpRequest | None = None, **kwargs) -> None:
    """got_request_exception: remember that a request failed on the database itself.

    Errors raised in other middleware (the session read by RequireMFAMiddleware, say) are
    turned into a 500 by Django before they reach the outer middleware; the flag lets
    DatabaseUnavailableMiddleware recognise them. Called inside Django's `except` block.
    """
    if request is not None and isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        setattr(request, _FLAG, True)


got_request_exception.connect(_mark_database_error, dispatch_uid="portal.database_unavailable")


def _database_down() -> bool:
    """A connection that failed during this request and cannot run `SELECT 1` now."""
    return any(
        conn.errors_occurred and not conn.is_usable()
        for conn in connections.all(initialized_only=True)
    )


class DatabaseUnavailableMiddleware:
    """PostgreSQL restarting or unreachable (or any transient OperationalError: deadlock,
    statement timeout): a clean 503 (HTML page or API problem), never a 500 nor a traceback.

    Placed right after SecurityMiddleware, so it sees what every inner middleware and view
    raised; the next request reconnects by itself (CONN_HEALTH_CHECKS).

    API views answer errors through DRF's handler (a 500 problem); such a 500 becomes a 503
    when the database connection that failed is still unusable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except DATABASE_ERRORS as exc:
            return self.unavailable(request, exc)
        if response.status_code >= 500 and (getattr(request, _FLAG, False) or _database_down()):
            return self.unavailable(request, None)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return self.unavailable(request, exception)
        return None

    def unavailable(self, request: HttpRequest, exc: Exception | None) -> HttpResponse:
        """Rendered without a database: no context processors, language from the request."""
        from django.template.loader import render_to_string
        from django.utils import translation
        from django.utils.translation import gettext as _

        reason = type(exc).__name__ if exc is not None else "database unusable"
        logger.warning("Database unavailable, answered 503 for %s (%s)", request.path, reason)
        language = translation.get_language_from_request(request)
        with translation.override(language):
            title = _("Service temporarily unavailable")
            detail = _(
                "The portal cannot reach its database for a moment (maintenance or restart). "
                "Nothing you saved is lost: please retry in a few seconds."
            )
            if request.path_info.startswith("/api/"):
                response = problem_response(
                    request, slug="service-unavailable", status_code=503, detail=detail
                )
            else:
                html = render_to_string(
                    "503.html",
                    {
                        "title": title,
                        "detail": detail,
                        "LANGUAGE_CODE": language,
                        "retry_after": RETRY_AFTER_SECONDS,
                    },
                )
                response = HttpResponse(html, status=503)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        return response
