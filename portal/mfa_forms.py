"""TOTP enrolment form whose secret stays the same for the whole enrolment session."""

from __future__ import annotations

from allauth.mfa.totp.forms import ActivateTOTPForm
from allauth.mfa.totp.internal import auth
from django import forms


class StableSecretActivateTOTPForm(ActivateTOTPForm):
    """allauth draws a new secret on every GET of the enrolment page: a reload, a second tab
    or any request that lands there in the background replaces the secret the person is
    typing a code for ("Code incorrect" for every code). Here the secret is drawn once and
    kept in the session until TOTP is activated (allauth's activation flow clears it then),
    so the code computed from the secret on screen is always the one checked.
    """

    def __init__(self, *args, **kwargs) -> None:
        self.user = kwargs.pop("user")
        forms.Form.__init__(self, *args, **kwargs)
        self.secret = auth.get_totp_secret(regenerate=False)
