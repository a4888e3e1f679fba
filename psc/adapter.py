"""allauth adapters: who a PSC login is, strong authentication, logout through PSC."""

from __future__ import annotations

from allauth.account.internal.flows.login import record_authentication
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess
from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from portal.accounts import AccountAdapter as PortalAccountAdapter
from portal.audit import audit_record
from portal.middleware import mark_mfa_satisfied
from portal.permissions import session_recently_reauthenticated
from psc import linking
from psc.identity import identity_from_claims
from psc.provider import PROVIDER_ID


def psc_configured() -> bool:
    return bool(settings.SOCIALACCOUNT_PROVIDERS.get(PROVIDER_ID))


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
        if state.get("process") == AuthProcess.REDIRECT:
            self._reauthenticate(request, sociallogin)
            return
        if state.get("process") == AuthProcess.CONNECT:
            self._check_link(request, sociallogin, identity)
            linking.sync_psc_accesses(request.user, identity)
            return  # allauth's connect flow links it to the logged-in user; no new login
        if not sociallogin.is_existing:
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

    def _reauthenticate(self, request, sociallogin) -> None:
        """The PSC flow again, by the logged-in user whose PSC identity this is: a recent
        re-authentication (allauth then redirects to `next`, no new login)."""
        user = request.user
        if not (
            user.is_authenticated and sociallogin.is_existing and sociallogin.user.pk == user.pk
        ):
            audit_record(
                action="psc.reauthentication_refused",
                actor=user if user.is_authenticated else None,
                reason="other_identity",
            )
            _refuse(request, "psc/refused.html", reason="other_identity")
        record_authentication(request, user, "psc", reauthenticated=True)
        request.session[SESSION_ID_TOKEN] = getattr(sociallogin, "psc_raw_id_token", "")
        request.session[SESSION_LOGOUT_URL] = getattr(sociallogin, "psc_end_session_endpoint", "")
        for editor_id in linking.editors_of(user) or [None]:
            audit_record(action="psc.reauthenticated", actor=user, editor=editor_id)

    def _check_link(self, request, sociallogin, identity) -> None:
        """ "Link my PSC identity": only right after a password re-authentication, an identity
        carrying an RPPS, not already the identity of another account."""
        if not request.user.is_authenticated or not linking.password_recently_confirmed(request):
            _refuse(request, "psc/refused.html", reason="reauthentication")
        if not identity.rpps:
            _refuse(request, "psc/no_access.html", identity=identity)
        if sociallogin.is_existing and sociallogin.user.pk != request.user.pk:
            audit_record(
                action="psc.link_refused",
                actor=request.user,
                reason="linked_to_another_user",
                details={"rpps": identity.rpps},
            )
            _refuse(request, "psc/refused.html", reason="linked_elsewhere")
        taken = (
            linking.PharmacistAccess.objects.filter(rpps=identity.rpps)
            .exclude(user=request.user)
            .exists()
        )
        if taken:
            audit_record(
                action="psc.link_refused",
                actor=request.user,
                reason="rpps_of_another_user",
                details={"rpps": identity.rpps},
            )
            _refuse(request, "psc/refused.html", reason="linked_elsewhere")
        if not sociallogin.is_existing:
            for editor_id in linking.editors_of(request.user) or [None]:
                audit_record(
                    action="psc.linked",
                    actor=request.user,
                    editor=editor_id,
                    request=request,
                    details={"rpps": identity.rpps},
                )

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

    def get_reauthentication_methods(self, user) -> list[dict]:
        """allauth's methods, plus « Confirmer avec Pro Santé Connect » for a user whose PSC
        identity is linked (the only one for a professional without a password or TOTP)."""
        methods = super().get_reauthentication_methods(user)
        if psc_configured() and linking.has_psc_identity(user):
            methods.append(
                {
                    "id": "psc",
                    "description": _("Confirm with Pro Santé Connect"),
                    "url": reverse("psc_reauthenticate"),
                }
            )
        return methods

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """allauth's own re-authentication checks (MFA changes...) accept a fresh PSC login
        as the portal's rule does."""
        request = getattr(self, "request", None)
        if request is not None and session_recently_reauthenticated(request):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)

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
