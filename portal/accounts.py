"""allauth integration: nobody signs up alone; people join through an invitation."""

import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.models import Authenticator
from django.http import HttpRequest

from portal.login_lockout import LockoutAdapterMixin


class AccountAdapter(LockoutAdapterMixin, DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """Enrolling the first factor right after login needs no second password prompt.

        Every later MFA change (new device, removal, recovery codes) still asks for it.
        """
        request = getattr(self, "request", None)
        user = getattr(request, "user", None)
        if app == "allauth.mfa" and user is not None and user.is_authenticated:
            first_factor = not Authenticator.objects.filter(user=user).exists()
            if first_factor or _viewing_new_recovery_codes(request):
                return False
        return super().is_reauthentication_required(app=app, **kwargs)


def _viewing_new_recovery_codes(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return bool(match and match.url_name == "mfa_view_recovery_codes") and _logged_in_recently(
        request
    )


def _logged_in_recently(request: HttpRequest) -> bool:
    """A login of the last few minutes lets the recovery codes shown right after enrolment
    appear without a second password prompt; every other MFA change still asks for it."""
    records = request.session.get("account_authentication_methods") or []
    if not records:
        return False
    return time.time() - records[-1].get("at", 0) < account_settings.REAUTHENTICATION_TIMEOUT
