"""allauth adapters: who a PSC login is, strong authentication, logout through PSC."""

from __future__ import annotations

import time

from allauth.account.internal.flows.login import record_authentication
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.shortcuts import render
from django.utils.http import urlencode

from portal.accounts import AccountAdapter as PortalAccountAdapter
from portal.audit import audit_record
from portal.middleware import mark_mfa_satisfied
from psc import linking
from psc.identity import identity_from_claims
from psc.provider import PROVIDER_ID

SESSION_ID_TOKEN = "psc_id_token"  # noqa: S105 - a session key name
SESSION_LOGOUT_URL = "psc_end_session_endpoint"


def _claims(sociallogin) -> dict:
    data = sociallogin.account.extra_data or {}
    return {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}


def _refuse(request, template: str, status: int = 403, **context):
    raise ImmediateHttpResponse(render(request, template, context, status=status))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False  # an account exists only because an editor decided it

    def pre_social_login(self, request, sociallogin) -> None:
        if sociallogin.account.provider != PROVIDER_ID:
            return
        state = sociallogin.state or {}
        id_token = (sociallogin.account.extra_data or {}).get("id_token") or {}
        if not state.get("nonce") or id_token.get("nonce") != state["nonce"]:
            audit_record(action="psc.login_refused", reason="nonce")
            _refuse(request, "psc/refused.html", reason="nonce")
        identity = identity_from_claims(_claims(sociallogin))
        if state.get("process") == "connect":
            self._check_link(request, sociallogin, identity)
        elif not sociallogin.is_existing:
            try:
                user = linking.user_for_identity(identity)
            except linking.AmbiguousIdentity:
                user = None
            if user is None:
                audit_record(
                    action="psc.login_refused",
                    reason="unknown_rpps",
                    details={"rpps": identity.rpps or ""},
                )
                _refuse(request, "psc/no_access.html", identity=identity)
            sociallogin.connect(request, user)
        user = sociallogin.user
        linking.sync_psc_accesses(user, identity)
        request.psc_login = True  # the MFA stage of this very request skips its prompt
        request.session[SESSION_ID_TOKEN] = getattr(sociallogin, "psc_raw_id_token", "")
        request.session[SESSION_LOGOUT_URL] = getattr(sociallogin, "psc_end_session_endpoint", "")
        for editor_id in linking.editors_of(user) or [None]:
            audit_record(action="psc.login", actor=user, editor=editor_id)

    def _check_link(self, request, sociallogin, identity) -> None:
        """ "Link my PSC identity": only right after a password re-authentication."""
        records = request.session.get("account_authentication_methods") or []
        fresh = [
            r for r in records if r.get("reauthenticated") and time.time() - r.get("at", 0) < 300
        ]
        if not request.user.is_authenticated or not fresh:
            _refuse(request, "psc/refused.html", reason="reauthentication")
        if not identity.rpps:
            _refuse(request, "psc/no_access.html", identity=identity)

    def save_user(self, request, sociallogin, form=None):  # pragma: no cover - signup is closed
        raise ImmediateHttpResponse(render(request, "psc/no_access.html", status=403))


class AccountAdapter(PortalAccountAdapter):
    """The portal's account adapter, plus PSC: no TOTP prompt after a PSC login, and logout
    through PSC's end-session endpoint so the PSC session ends too."""

    def get_login_stages(self) -> list[str]:
        return [
            "psc.stages.AuthenticateStage" if s == "allauth.mfa.stages.AuthenticateStage" else s
            for s in super().get_login_stages()
        ]

    def login(self, request, user) -> None:
        super().login(request, user)
        if getattr(request, "psc_login", False):
            mark_mfa_satisfied(request.session)
            record_authentication(request, user, "psc", reauthenticated=True)

    def get_logout_redirect_url(self, request) -> str:
        id_token = request.session.get(SESSION_ID_TOKEN)
        endpoint = request.session.get(SESSION_LOGOUT_URL)
        if id_token and endpoint:
            target = request.build_absolute_uri(super().get_logout_redirect_url(request))
            return (
                endpoint
                + "?"
                + urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": target})
            )
        return super().get_logout_redirect_url(request)
