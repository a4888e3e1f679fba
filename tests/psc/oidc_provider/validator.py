"""PSC-shaped claims (SubjectNameID, SubjectRefPro, acr) and, for named test users, ID tokens
broken in one precise way, so the portal's checks meet real bad tokens from a real server."""

import json
import os
from pathlib import Path

from jwcrypto import jwk, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator


def people() -> dict:
    return json.loads(Path(os.environ["OP_PEOPLE"]).read_text(encoding="utf-8"))


class PscLikeValidator(OAuth2Validator):
    oidc_claim_scope = None  # every claim, as PSC's scope_all

    def get_additional_claims(self, request):
        person = people()[request.user.username]
        return {
            "sub": "f:psc-test:" + person["SubjectNameID"],
            "SubjectNameID": person["SubjectNameID"],
            "given_name": person.get("given_name", ""),
            "family_name": person.get("family_name", ""),
            "preferred_username": person["SubjectNameID"],
            "SubjectRefPro": person.get("SubjectRefPro", {"exercices": []}),
            "acr": "eidas1",
        }

    def finalize_id_token(self, id_token, token, token_handler, request):
        tamper = people()[request.user.username].get("tamper")
        if tamper == "audience":
            id_token["aud"] = "another-relying-party"
        elif tamper == "nonce":
            id_token["nonce"] = "a-nonce-from-an-earlier-login"
        serialized = super().finalize_id_token(id_token, token, token_handler, request)
        if tamper == "signature":
            # Same header (same kid), claims signed by a key the JWKS does not publish.
            claims = jwt.JWT(jwt=serialized).token.objects["payload"].decode()
            header = json.loads(jwt.JWT(jwt=serialized).token.objects["protected"])
            forged = jwt.JWT(header=json.dumps(header), claims=claims)
            forged.make_signed_token(jwk.JWK.generate(kty="RSA", size=2048))
            return forged.serialize()
        return serialized


class PeopleBackend:
    """Professionals are whoever OP_PEOPLE lists now (tests change it between logins)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        from django.contrib.auth.models import User

        person = people().get(username or "")
        if not person or person["password"] != password:
            return None
        user, _ = User.objects.get_or_create(username=username)
        return user

    def get_user(self, user_id):
        from django.contrib.auth.models import User

        return User.objects.filter(pk=user_id).first()
