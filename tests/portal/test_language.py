"""Language: the browser decides (en-US: English, French: French) until the person uses the
switch; their choice then follows them to any browser."""

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_browser_language_decides_for_anonymous_visitors(client):
    english = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en">' in english.content.decode()
    french = Client().get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert '<html lang="fr">' in french.content.decode()


def test_a_person_who_never_chose_follows_the_browser(tenant_a, client_for):
    client = client_for(tenant_a.viewer)
    page = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en">' in page.content.decode()


def test_the_switch_persists_per_user(tenant_a, client_for):
    pharmacist = tenant_a.pharmacist  # logs in with a password alone
    mine = reverse("certificates:my_officines")
    client = client_for(pharmacist)
    response = client.post(reverse("set_language"), {"language": "en", "next": mine})
    assert response.status_code == 302
    pharmacist.refresh_from_db()
    assert pharmacist.language == "en"

    # Another browser, French: after login the pages are in English, and the cookie follows.
    other = Client(HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    login = other.post(reverse("account_login"), {"login": pharmacist.email, "password": PASSWORD})
    assert login.status_code == 302
    page = other.get(mine)
    assert '<html lang="en">' in page.content.decode()
    assert page.cookies["django_language"].value == "en"
    assert '<html lang="en">' in other.get(reverse("officines:list")).content.decode()

    # Back to French with the switch.
    other.post(reverse("set_language"), {"language": "fr", "next": "/"})
    assert User.objects.get(pk=pharmacist.pk).language == "fr"
    assert '<html lang="fr">' in other.get(mine).content.decode()


def test_an_unknown_language_is_not_stored(tenant_a, client_for):
    client_for(tenant_a.viewer).post(reverse("set_language"), {"language": "xx", "next": "/"})
    assert User.objects.get(pk=tenant_a.viewer.pk).language == ""
