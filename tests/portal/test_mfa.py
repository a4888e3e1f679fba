"""MFA: editor admins and operators must enrol TOTP; login then asks for the code."""

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from portal.management.commands.demo_totp import current_code
from tests.factories import PASSWORD, TOTP_SECRET, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def password_login(user) -> Client:
    client = Client()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_admin_without_totp_is_sent_to_enrolment(tenant_a):
    admin = MembershipFactory(editor=tenant_a.editor, role="admin").user
    client = password_login(admin)
    response = client.get(reverse("officines:list"))
    assert response.status_code == 302
    assert response.url == reverse("mfa_activate_totp")
    # The enrolment page itself is reachable.
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_viewer_without_totp_is_not_forced(tenant_a):
    viewer = MembershipFactory(editor=tenant_a.editor, role="viewer").user
    client = Client()
    client.force_login(viewer)
    assert client.get(reverse("officines:list")).status_code == 200


def test_enrolment_then_access(tenant_a):
    admin = MembershipFactory(editor=tenant_a.editor, role="admin").user
    client = password_login(admin)
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=admin, type="totp").exists()
    assert client.get(reverse("officines:list")).status_code == 200


def test_login_asks_for_the_totp_code():
    user = MembershipFactory(role="operator", user=UserFactory(email="op@x.fr", totp=True)).user
    client = Client()
    response = client.post(reverse("account_login"), {"login": "op@x.fr", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    assert client.get(reverse("officines:list")).status_code == 302  # not logged in yet
    response = client.post(
        reverse("mfa_authenticate"),
        {"code": "000000" if current_code(TOTP_SECRET) != "000000" else "111111"},
    )
    assert response.status_code == 200  # wrong code: stays on the form
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(TOTP_SECRET)})
    assert response.status_code == 302
    assert client.get(reverse("officines:list")).status_code == 200
    assert user.is_authenticated


def test_login_page_is_french_by_default(client):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    assert '<html lang="fr">' in response.content.decode()
    assert "Mot de passe" in response.content.decode()


def test_recovery_codes_right_after_enrolment_need_no_second_password(tenant_a):
    admin = MembershipFactory(editor=tenant_a.editor, role="admin").user
    client = password_login(admin)
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert client.get(response.url).status_code == 200  # recovery codes, no reauthentication
    # Removing the factor still asks for the password again.
    assert "reauthenticate" in client.get(reverse("mfa_deactivate_totp")).url


def test_background_requests_never_enter_the_enrolment_flow(tenant_a):
    """Badges, polls and htmx fragments loaded with the enrolment page neither redirect to it
    nor replace its secret; only navigations are sent there."""
    admin = MembershipFactory(editor=tenant_a.editor, role="admin").user
    client = password_login(admin)
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    badge = reverse("notifications:badge")

    fragment = client.get(badge, headers={"HX-Request": "true"})
    assert fragment.status_code == 204 and "HX-Redirect" not in fragment
    boosted = client.get(badge, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 204
    assert boosted["HX-Redirect"] == reverse("mfa_activate_totp")
    posted = client.post(reverse("officines:list"), headers={"HX-Request": "true"})
    assert posted.status_code == 204 and posted["HX-Redirect"] == reverse("mfa_activate_totp")
    fetched = client.get(badge, headers={"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"})
    assert fetched.status_code == 401
    navigation = client.get(badge, headers={"Sec-Fetch-Mode": "navigate"})
    assert navigation.status_code == 302 and navigation.url == reverse("mfa_activate_totp")

    # The secret on screen is still the one checked, after a reload of the page too.
    again = client.get(reverse("mfa_activate_totp")).context["form"].secret
    assert again == secret
    response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=admin, type="totp").exists()
    assert client.get(badge, headers={"HX-Request": "true"}).status_code == 200
