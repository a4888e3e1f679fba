"""Pro Santé Connect logins against a real OpenID Connect provider on a local port."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from officines.models import PharmacistAccess
from portal.models import AuditEvent, Invitation, InvitationKind, User
from psc.identity import identity_from_claims, rpps_of
from tests.factories import OfficineFactory, PharmacistAccessFactory, UserFactory
from tests.helpers.psc import (
    RPPS_INVITED,
    RPPS_PHARMACIST,
    RPPS_UNKNOWN,
    finish,
    person,
    psc_login,
    start,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pharmacy(tenant_a):
    officine = tenant_a.pharmacist_officine
    access = PharmacistAccess.objects.get(user=tenant_a.pharmacist, officine=officine)
    access.rpps = RPPS_PHARMACIST
    access.save(update_fields=["rpps"])
    return tenant_a


def test_rpps_from_the_national_identifier():
    assert rpps_of("8" + RPPS_PHARMACIST) == RPPS_PHARMACIST
    assert rpps_of(RPPS_PHARMACIST) == RPPS_PHARMACIST
    wrong_key = RPPS_PHARMACIST[:-1] + str((int(RPPS_PHARMACIST[-1]) + 1) % 10)
    assert rpps_of("8" + wrong_key) is None
    assert rpps_of("ANS20231122132732") is None
    identity = identity_from_claims(person(RPPS_PHARMACIST, ["690001003"]))
    assert identity.structures == {"690001003", "1690001003"}


def test_known_pharmacist_logs_in_without_totp_and_lands_on_their_officines(
    psc_configured, pharmacy
):
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})
    client = Client()
    response = psc_login(client, psc_configured, "claire")
    assert response.status_code == 302, response.content[:500]
    home = client.get(response["Location"], follow=True)
    assert home.status_code == 200
    assert home.wsgi_request.user == pharmacy.pharmacist
    assert pharmacy.pharmacist_officine.raison_sociale in home.content.decode()
    account = SocialAccount.objects.get(user=pharmacy.pharmacist)
    assert (account.provider, account.uid) == ("psc", "8" + RPPS_PHARMACIST)
    assert AuditEvent.objects.filter(action="psc.login", actor=pharmacy.pharmacist).exists()


def test_admin_with_totp_gets_no_totp_prompt_after_psc(psc_configured, tenant_a):
    """A PSC login is strong authentication: the TOTP stage is skipped."""
    admin = tenant_a.admin
    PharmacistAccessFactory(user=admin, officine=tenant_a.officine, rpps=RPPS_PHARMACIST)
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})
    client = Client()
    response = psc_login(client, psc_configured, "claire")
    assert response.status_code == 302
    assert "2fa" not in response["Location"] and "mfa" not in response["Location"]
    page = client.get(reverse("home"), follow=True)
    assert page.status_code == 200 and page.wsgi_request.user == admin
    # No stop at TOTP enrolment or authentication on the way to the dashboard.
    assert [url for url, _ in page.redirect_chain] == [reverse("dashboard")]


def test_unknown_professional_gets_a_clear_page_and_no_account(psc_configured, tenant_a):
    psc_configured.set_people({"inconnu": person(RPPS_UNKNOWN, [tenant_a.officine.finess])})
    users = User.objects.count()
    client = Client()
    response = psc_login(client, psc_configured, "inconnu")
    assert response.status_code == 403
    body = response.content.decode()
    assert f"Aucun accès ne correspond à votre numéro RPPS {RPPS_UNKNOWN}" in body
    assert User.objects.count() == users
    assert not SocialAccount.objects.exists()
    assert client.get(reverse("home")).status_code == 302  # still anonymous


def test_same_email_is_never_enough(psc_configured, pharmacy):
    """A professional whose e-mail equals a portal user's, without an RPPS decided by an
    editor, gets nothing."""
    claims = person(RPPS_UNKNOWN, [])
    claims["email"] = pharmacy.admin.email
    psc_configured.set_people({"homonyme": claims})
    response = psc_login(Client(), psc_configured, "homonyme")
    assert response.status_code == 403
    assert not SocialAccount.objects.exists()


def test_invitation_naming_the_rpps_creates_the_account(psc_configured, tenant_a):
    invitation = Invitation.objects.create(
        editor=tenant_a.editor,
        email="nouvelle@pharmacie.fr",
        kind=InvitationKind.PHARMACIST,
        rpps=RPPS_INVITED,
        token_hash="x" * 64,
        expires_at=timezone.now() + timedelta(days=3),
    )
    invitation.officines.add(tenant_a.pharmacist_officine)
    psc_configured.set_people({"nouvelle": person(RPPS_INVITED, [])})
    client = Client()
    response = psc_login(client, psc_configured, "nouvelle")
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(email="nouvelle@pharmacie.fr")
    assert not user.has_usable_password()
    assert PharmacistAccess.objects.filter(
        user=user, officine=tenant_a.pharmacist_officine
    ).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None


def test_psc_activities_grant_read_access_where_the_editor_allows_and_remove_it(
    psc_configured, pharmacy
):
    editor = pharmacy.editor
    other = OfficineFactory(editor=editor)
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [other.finess])})
    psc_login(Client(), psc_configured, "claire")
    assert not PharmacistAccess.objects.filter(officine=other).exists()  # setting off

    editor.psc_officine_access = True
    editor.save(update_fields=["psc_officine_access"])
    psc_login(Client(), psc_configured, "claire")
    access = PharmacistAccess.objects.get(officine=other, user=pharmacy.pharmacist)
    assert (access.source, access.read_only) == ("psc", True)
    assert AuditEvent.objects.filter(action="psc.access_granted", editor=editor).exists()

    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})  # PSC stops listing it
    psc_login(Client(), psc_configured, "claire")
    assert not PharmacistAccess.objects.filter(officine=other).exists()
    # The editor-granted access stays.
    assert PharmacistAccess.objects.filter(officine=pharmacy.pharmacist_officine).exists()
    assert AuditEvent.objects.filter(action="psc.access_removed", editor=editor).exists()


@pytest.mark.parametrize("tamper", ["signature", "audience", "nonce"])
def test_tampered_id_tokens_are_refused_and_create_nothing(psc_configured, pharmacy, tamper):
    psc_configured.set_people({"mallory": person(RPPS_PHARMACIST, [], tamper=tamper)})
    client = Client()
    response = psc_login(client, psc_configured, "mallory")
    assert response.status_code in (401, 403), response.status_code
    assert not SocialAccount.objects.exists()
    assert client.get(reverse("home")).status_code == 302  # not logged in


def test_replayed_callback_is_refused(psc_configured, pharmacy):
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})
    client = Client()
    back = psc_configured.authorize(start(client), "claire")
    assert finish(client, back).status_code == 302
    client.logout()
    replay = finish(client, back)  # same code and state, again
    assert replay.status_code in (401, 403), replay.status_code
    assert client.get(reverse("home")).status_code == 302


def test_link_my_psc_identity_needs_a_fresh_password(psc_configured, tenant_a):
    user = UserFactory(email="titulaire@pharmacie.fr")
    PharmacistAccessFactory(user=user, officine=tenant_a.pharmacist_officine)
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})
    client = Client()
    client.force_login(user)
    response = psc_login_process(client, psc_configured, "claire", process="connect")
    assert response.status_code == 403
    assert not SocialAccount.objects.exists()


def psc_login_process(client, provider, username, **params):
    return finish(client, provider.authorize(start(client, **params), username))


def test_logout_goes_through_the_psc_end_session_endpoint(psc_configured, pharmacy):
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})
    client = Client()
    assert psc_login(client, psc_configured, "claire").status_code == 302
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    end_session = urlparse(response["Location"])
    assert f"{end_session.scheme}://{end_session.netloc}" == psc_configured.url
    query = parse_qs(end_session.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert query["id_token_hint"][0].count(".") == 2  # the ID token PSC gave at login
    assert client.get(reverse("home")).status_code == 302  # the portal session is over
    # The provider accepts the hint and ends its own session, back to the portal's login.
    back = psc_configured.browser.get(response["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text[:300]
    assert back.headers["Location"].startswith("http://testserver/accounts/login/")


def test_a_read_only_access_never_acts_for_a_mode_pharmacien_officine(tenant_a):
    from portal.permissions import can_act_on_officine

    officine = tenant_a.pharmacist_officine  # mode « pharmacien »
    reader = UserFactory(email="lecture@pharmacie.fr")
    PharmacistAccessFactory(user=reader, officine=officine, source="psc", read_only=True)
    assert not can_act_on_officine(reader, officine)
    assert can_act_on_officine(tenant_a.pharmacist, officine)
