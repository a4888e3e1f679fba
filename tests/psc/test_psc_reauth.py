"""Re-authentication with Pro Santé Connect for sensitive actions, and "link my PSC identity",
against the real local OpenID Connect provider."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from allauth.socialaccount.models import SocialAccount
from cryptography.hazmat.primitives.serialization import pkcs12
from django.test import Client
from django.urls import reverse

from certificates import x509
from officines.models import PharmacistAccess
from portal.models import AuditEvent
from tests.helpers.psc import (
    RPPS_INVITED,
    RPPS_PHARMACIST,
    RPPS_STAFF,
    finish,
    person,
    psc_login,
    start,
)
from tests.helpers.tenants import logged_in
from tests.ui.certificate_support import (
    age_reauthentication,
    issued_certificate,
    reauthenticate,
)

pytestmark = pytest.mark.django_db(transaction=True)

PASSPHRASE = "Une phrase de passe solide 2026"
FORM = {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE, "profile": "modern"}
P12 = {"passphrase": PASSPHRASE}


@pytest.fixture
def psc_only(tenant_a, psc_configured):
    """The pharmacist of a mode-pharmacien officine, with neither password nor TOTP: PSC is
    their only way in."""
    pharmacist = tenant_a.pharmacist
    pharmacist.set_unusable_password()
    pharmacist.save()
    PharmacistAccess.objects.filter(user=pharmacist).update(rpps=RPPS_PHARMACIST)
    psc_configured.set_people(
        {"claire": person(RPPS_PHARMACIST, []), "autre": person(RPPS_INVITED, [])}
    )
    return tenant_a


@pytest.fixture
def held(psc_only, pki, trust_anchors, django_capture_on_commit_callbacks):
    officine = psc_only.pharmacist_officine
    assert officine.delegation_mode == "pharmacien"
    return issued_certificate(
        pki, officine, psc_only.pharmacist, django_capture_on_commit_callbacks
    )


def logged_in_with_psc(provider) -> Client:
    client = Client()
    response = psc_login(client, provider, "claire")
    assert response.status_code == 302, response.content[:500]
    age_reauthentication(client, 301)  # the login itself is no longer recent
    return client


def reauthenticate_with_psc(client: Client, provider, next_url: str, username: str = "claire"):
    back = provider.authorize(start(client, process="redirect", next=next_url), username)
    return finish(client, back)


def test_psc_only_pharmacist_exports_after_confirming_with_psc(psc_configured, psc_only, held):
    client = logged_in_with_psc(psc_configured)
    url = reverse("certificates:export_pkcs12", args=[held.pk])
    # No password to type: the re-authentication page offered is PSC's.
    response = client.get(url)
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert location.path == reverse("psc_reauthenticate"), response["Location"]
    page = client.get(response["Location"])
    body = page.content.decode()
    assert "Confirmer avec Pro Santé Connect" in body
    assert 'name="process" value="redirect"' in body and f'value="{url}"' in body
    # Without it, refused: nothing decrypted.
    assert client.post(url, FORM).status_code == 302
    api = f"/api/v1/certificates/{held.pk}/pkcs12/"
    assert client.post(api, P12, "application/json").status_code == 403
    assert not AuditEvent.objects.filter(action="key.decrypt").exists()

    back = reauthenticate_with_psc(client, psc_configured, url)
    assert back.status_code == 302 and back["Location"] == url
    assert client.get(url).status_code == 200
    exported = client.post(url, FORM)
    assert exported["Content-Type"] == "application/x-pkcs12"
    key, _cert, _chain = pkcs12.load_key_and_certificates(exported.content, PASSPHRASE.encode())
    assert x509.public_key_sha256(key.public_key()) == held.public_key_sha256
    # The same confirmation holds for the API called with this session.
    assert client.post(api, P12, "application/json").status_code == 200
    assert AuditEvent.objects.filter(
        action="psc.reauthenticated", actor=psc_only.pharmacist
    ).exists()
    # Five minutes later, asked again.
    age_reauthentication(client, 301)
    assert client.post(api, P12, "application/json").status_code == 403
    assert client.get(url).status_code == 302


def test_confirming_with_another_psc_identity_is_refused(psc_configured, psc_only, held):
    client = logged_in_with_psc(psc_configured)
    url = reverse("certificates:export_pkcs12", args=[held.pk])
    response = reauthenticate_with_psc(client, psc_configured, url, username="autre")
    assert response.status_code == 403
    assert client.get(url).status_code == 302  # still not confirmed
    assert client.get(reverse("home"), follow=True).wsgi_request.user == psc_only.pharmacist
    assert AuditEvent.objects.filter(action="psc.reauthentication_refused").exists()


def test_password_users_are_offered_psc_beside_their_password(psc_configured, tenant_a):
    """A user with a password and a linked PSC identity sees both on allauth's page."""
    admin = tenant_a.admin
    SocialAccount.objects.create(user=admin, provider="psc", uid="8" + RPPS_STAFF)
    client = logged_in(admin)
    page = client.get(reverse("account_reauthenticate") + "?next=/")
    assert page.status_code == 200
    assert reverse("psc_reauthenticate") + "?next=%2F" in page.content.decode()
    # Without a linked identity, the PSC page does not exist for them.
    other = logged_in(tenant_a.operator)
    assert other.get(reverse("psc_reauthenticate")).status_code == 404


# ------------------------------------------------------------------ "link my PSC identity"


def link(client: Client, provider, username: str):
    back = provider.authorize(start(client, process="connect", next=reverse("psc_link")), username)
    return finish(client, back)


def test_link_my_psc_identity_after_a_password_confirmation(psc_configured, tenant_a):
    operator = tenant_a.operator  # an editor user, no pharmacist access, a password
    psc_configured.set_people({"paul": person(RPPS_STAFF, [])})
    client = logged_in(operator)
    security = client.get(reverse("mfa_index")).content.decode()
    assert reverse("psc_link") in security  # offered beside the account security link
    page = client.get(reverse("psc_link"))
    assert page.status_code == 200
    assert 'id="psc-link"' not in page.content.decode()  # confirm the password first
    # Starting the flow anyway is refused by the adapter: nothing linked.
    response = link(client, psc_configured, "paul")
    assert response.status_code == 403
    assert not SocialAccount.objects.filter(user=operator).exists()

    reauthenticate(client)
    page = client.get(reverse("psc_link"))
    assert 'id="psc-link"' in page.content.decode()
    response = link(client, psc_configured, "paul")
    assert response.status_code == 302 and response["Location"] == reverse("psc_link")
    account = SocialAccount.objects.get(user=operator)
    assert account.uid == "8" + RPPS_STAFF
    assert AuditEvent.objects.filter(action="psc.linked", actor=operator).exists()
    assert "psc-linked" in client.get(reverse("psc_link")).content.decode()

    # From now on, PSC logs them in.
    fresh = Client()
    assert psc_login(fresh, psc_configured, "paul").status_code == 302
    assert fresh.get(reverse("home"), follow=True).wsgi_request.user == operator


def test_link_is_refused_when_the_identity_is_another_users(psc_configured, tenant_a):
    """The pharmacist's RPPS belongs to their access: an operator cannot take it."""
    PharmacistAccess.objects.filter(user=tenant_a.pharmacist).update(rpps=RPPS_PHARMACIST)
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})
    client = logged_in(tenant_a.operator)
    reauthenticate(client)
    response = link(client, psc_configured, "claire")
    assert response.status_code == 403
    assert "appartient à un autre compte" in response.content.decode()
    assert not SocialAccount.objects.exists()
    assert AuditEvent.objects.filter(action="psc.link_refused").exists()
    # Once the pharmacist has linked it by logging in, still refused for the operator.
    assert psc_login(Client(), psc_configured, "claire").status_code == 302
    client = logged_in(tenant_a.operator)
    reauthenticate(client)
    assert link(client, psc_configured, "claire").status_code == 403
    assert SocialAccount.objects.get().user == tenant_a.pharmacist


def test_link_needs_an_rpps(psc_configured, tenant_a):
    claims = person(RPPS_STAFF, [])
    claims["SubjectNameID"] = "ANS20231122132732"
    psc_configured.set_people({"sans": claims})
    client = logged_in(tenant_a.operator)
    reauthenticate(client)
    assert link(client, psc_configured, "sans").status_code == 403
    assert not SocialAccount.objects.exists()
