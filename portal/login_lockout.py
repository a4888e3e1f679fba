"""Failed password logins lock one (account, source address) pair with a growing delay.

Locking the account itself let anyone lock a known admin out with five wrong passwords.
Now five failures from one address lock that account *from that address* for 1 minute,
then 2, 4... up to an hour (`LOGIN_LOCKOUT_*` settings); the right password from another
address still works. A locked attempt is a 429 with `Retry-After`; each lock is audited
and the account owner gets an e-mail (at most one an hour). The counters live in the
cache, which keeps working per process while Redis is down (`portal.resilient_cache`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from portal.audit import audit_record
from portal.models import AuditEvent, User

logger = logging.getLogger(__name__)

# Locks of a pair are remembered this long: the next lock within it lasts twice as long.
_MEMORY = 24 * 3600
_NOTICE_EVERY = 3600


@dataclass
class _State:
    failures: int = 0
    locks: int = 0
    until: float = 0.0


def _address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _key(login: str, address: str) -> str:
    digest = hashlib.sha256(f"{login.strip().lower()}|{address}".encode()).hexdigest()
    return f"login-lockout:{digest}"


def _load(key: str) -> _State:
    raw = cache.get(key)
    return _State(**raw) if isinstance(raw, dict) else _State()


def retry_after(request: HttpRequest, login: str) -> int:
    """Seconds before this address may try this login again (0: it may)."""
    state = _load(_key(login, _address(request)))
    return max(0, math.ceil(state.until - time.time()))


def login_failed(request: HttpRequest, login: str) -> int:
    """Count a failure; returns the lock's length in seconds when this failure locks the pair."""
    address = _address(request)
    key = _key(login, address)
    state = _load(key)
    state.failures += 1
    seconds = 0
    if state.failures >= settings.LOGIN_LOCKOUT_FAILURES:
        seconds = min(
            settings.LOGIN_LOCKOUT_SECONDS * 2**state.locks, settings.LOGIN_LOCKOUT_MAX_SECONDS
        )
        state = _State(failures=0, locks=state.locks + 1, until=time.time() + seconds)
    cache.set(key, asdict(state), _MEMORY)
    if seconds:
        _locked(request, login, address, seconds)
    return seconds


def login_succeeded(request: HttpRequest, login: str) -> None:
    cache.delete(_key(login, _address(request)))


def _locked(request: HttpRequest, login: str, address: str, seconds: int) -> None:
    user = User.objects.filter(email__iexact=login.strip()).first()
    audit_record(
        action="login.locked",
        actor=user,
        request=request,
        outcome=AuditEvent.Outcome.FAILURE,
        reason="too_many_failures",
        details={"address": address, "seconds": seconds},
    )
    if user is None or not cache.add(f"login-lockout-notice:{user.pk}", 1, _NOTICE_EVERY):
        return
    context = {"address": address, "minutes": max(1, seconds // 60), "email": user.email}
    try:
        with translation.override(user.language or settings.LANGUAGE_CODE):
            subject = _("Failed sign-ins on your account")
            body = render_to_string("emails/login_locked.txt", context)
        send_mail(subject, body, None, [user.email])
    except Exception:  # the lock holds even if the mail server is down
        logger.exception("Cannot send the login lockout notice")


def locked_response(request: HttpRequest, seconds: int) -> HttpResponse:
    """429 page with Retry-After, shown instead of the login form."""
    body = render_to_string(
        "429.html", {"minutes": max(1, math.ceil(seconds / 60))}, request=request
    )
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _login_of(credentials: dict) -> str:
    return str(credentials.get("email") or credentials.get("username") or "")


def _ip_rates() -> dict[str, str]:
    """allauth's `login_failed` rates without the per-account part (the lockout replaces it)."""
    rates = settings.ACCOUNT_RATE_LIMITS.get("login_failed") or ""
    return {"login_failed": ",".join(r for r in rates.split(",") if r.strip().endswith("/ip"))}


class LockoutAdapterMixin:
    """allauth account adapter hooks: lockout per (account, address) instead of per account.

    allauth's own per-key limit ("5/5m/key") is left to the MFA code step, which only someone
    holding the password reaches; the password step keeps allauth's per-IP limit.
    """

    def pre_authenticate(self, request: HttpRequest, **credentials: object) -> None:
        seconds = retry_after(request, _login_of(credentials))
        if seconds:
            raise ImmediateHttpResponse(locked_response(request, seconds))
        # allauth.account.adapter.DefaultAccountAdapter.pre_authenticate, per-IP rates only
        # (authenticate() rolls this usage back on success through the same attribute).
        self._login_failed_rl_usage = allauth_ratelimit.consume(
            request, app="allauth.account", action="login_failed", config=_ip_rates()
        )
        if not self._login_failed_rl_usage:
            raise self.validation_error("too_many_login_attempts")  # type: ignore[attr-defined]

    def authenticate(self, request: HttpRequest, **credentials: object):
        user = super().authenticate(request, **credentials)  # type: ignore[misc]
        if user is not None:
            login_succeeded(request, _login_of(credentials))
        return user

    def authentication_failed(self, request: HttpRequest, **credentials: object) -> None:
        seconds = login_failed(request, _login_of(credentials))
        if seconds:
            raise ImmediateHttpResponse(locked_response(request, seconds))
