"""The whole Pro Santé Connect flow in Chromium, JavaScript on: button, provider login, back
on the portal's « Mes officines », logout through the provider; an unknown RPPS refused."""

from __future__ import annotations

import re

import pytest
from allauth.socialaccount.models import SocialAccount

from officines.models import PharmacistAccess
from tests.browser.conftest import CHROMIUM_ARGS, chromium  # noqa: F401 - the fixture
from tests.psc.conftest import PASSWORD, RPPS_PHARMACIST, RPPS_UNKNOWN, person

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
TIMEOUT_MS = 15_000


@pytest.fixture
def portal_url(live_server) -> str:
    # The provider allows any port on the loopback IP (RFC 8252), not on "localhost".
    return live_server.url.replace("localhost", "127.0.0.1")


@pytest.fixture
def page(chromium, portal_url):  # noqa: F811 - the imported fixture
    context = chromium.new_context(locale="fr-FR", base_url=portal_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


def sign_in_with_psc(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    page.wait_for_url(re.compile(r"/login/\?next=/o/authorize"))
    page.fill("#op-username", username)
    page.fill("#op-password", PASSWORD)
    page.click("#op-submit")


def test_pharmacist_logs_in_and_out_with_psc(psc_configured, tenant_a, page):
    access = PharmacistAccess.objects.get(officine=tenant_a.pharmacist_officine)
    access.rpps = RPPS_PHARMACIST
    access.save(update_fields=["rpps"])
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})

    sign_in_with_psc(page, "claire")
    page.get_by_role("heading", name="Mes officines").wait_for()
    assert tenant_a.pharmacist_officine.raison_sociale in page.content()
    assert SocialAccount.objects.filter(user=tenant_a.pharmacist, provider="psc").exists()

    page.goto("/accounts/logout/")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/accounts/login/"))  # back from the provider's logout
    page.goto("/")
    page.wait_for_url(re.compile(r"/accounts/login/"))  # the portal session is over
    # And the provider's own session too: signing in again asks for the card code.
    page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    page.wait_for_selector("#op-username")
    assert page.js_errors == []


def test_unknown_rpps_is_refused_in_the_browser(psc_configured, tenant_a, page):
    psc_configured.set_people({"inconnu": person(RPPS_UNKNOWN, [])})
    sign_in_with_psc(page, "inconnu")
    message = page.locator("#psc-no-access")
    message.wait_for()
    assert f"Aucun accès ne correspond à votre numéro RPPS {RPPS_UNKNOWN}" in message.inner_text()
    assert not SocialAccount.objects.exists()
