"""The Pro Santé Connect provider: allauth's OpenID Connect provider, stricter where PSC needs it.

On top of allauth's authorization code flow (state, PKCE): a `nonce` in every authorization
request, kept in the login state and compared with the ID token's; the ID token's signature is
always checked against the provider's JWKS (allauth skips it for tokens fetched over TLS).
"""

from __future__ import annotations

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.conf import settings
from django.urls import reverse
from django.utils.crypto import get_random_string
from django.utils.http import urlencode

PROVIDER_ID = "psc"


class PscOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    def __init__(self, request) -> None:
        super().__init__(request, PROVIDER_ID)

    def _decode_id_token(self, app, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )

    def complete_login(self, request, app, token, **kwargs):
        login = super().complete_login(request, app, token, **kwargs)
        # Kept for RP-initiated logout (id_token_hint), once the login is accepted.
        login.psc_raw_id_token = kwargs["response"].get("id_token")
        login.psc_end_session_endpoint = self.openid_config.get("end_session_endpoint", "")
        return login

    def get_callback_url(self, request, app) -> str:
        from allauth.utils import build_absolute_uri

        return build_absolute_uri(request, reverse("psc_callback"), self.redirect_uri_protocol)


class ProSanteConnectProvider(OpenIDConnectProvider):
    id = PROVIDER_ID
    name = "Pro Santé Connect"
    oauth2_adapter_class = PscOAuth2Adapter

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.name = "Pro Santé Connect"

    def get_oauth2_adapter(self, request):
        return self.oauth2_adapter_class(request)

    def get_login_url(self, request, **kwargs) -> str:
        url = reverse("psc_login")
        return f"{url}?{urlencode(kwargs)}" if kwargs else url

    def get_callback_url(self) -> str:
        return reverse("psc_callback")

    def get_default_scope(self) -> list[str]:
        return settings.PSC_SCOPES

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = get_random_string(32)
        auth_params = dict(kwargs.pop("auth_params", None) or self.get_auth_params())
        auth_params["nonce"] = nonce
        return super().redirect(
            request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
        )


provider_classes = [ProSanteConnectProvider]
