"""allauth integration: nobody signs up alone; people join through an invitation."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.models import Authenticator
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """Enrolling the first factor right after login needs no second password prompt.

        Every later MFA change (new device, removal, recovery codes) still asks for it.
        """
        request = getattr(self, "request", None)
        user = getattr(request, "user", None)
        if (
            app == "allauth.mfa"
            and user is not None
            and user.is_authenticated
            and not Authenticator.objects.filter(user=user).exists()
        ):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)
