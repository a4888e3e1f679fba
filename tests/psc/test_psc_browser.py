"""The whole Pro Santé Connect flow in Chromium, JavaScript on: button, provider login, back
on the portal's « Mes officines », logout through the provider; an unknown RPPS refused."""

from __future__ import annotations

import re

import pytest
from allauth.socialaccount.models import SocialAccount

from officines.models import PharmacistAccess
from tests.helpers.browser import log_in
from tests.helpers.psc import PASSWORD, RPPS_PHARMACIST, RPPS_STAFF, RPPS_UNKNOWN, person

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
TIMEOUT_MS = 15_000


@pytest.fixture
def portal_url(live_server) -> str:
    # The provider allows any port on the loopback IP (RFC 8252), not on "localhost".
    return live_server.url.replace("localhost", "127.0.0.1")


@pytest.fixture
def page(chromium, portal_url):
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


def age_browser_session(page, seconds: int) -> None:
    """Pretend the PSC login of this browser's session happened `seconds` ago."""
    import time

    from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    session = SessionStore(session_key=cookie["value"])
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] = time.time() - seconds
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()


def test_psc_only_pharmacist_confirms_with_psc_before_a_pkcs12_export(
    psc_configured, tenant_a, page, pki, trust_anchors, django_capture_on_commit_callbacks
):
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import pkcs12
    from django.urls import reverse

    from tests.ui.certificate_support import issued_certificate

    pharmacist = tenant_a.pharmacist
    pharmacist.set_unusable_password()  # no password, no TOTP: PSC only
    pharmacist.save()
    PharmacistAccess.objects.filter(user=pharmacist).update(rpps=RPPS_PHARMACIST)
    psc_configured.set_people({"claire": person(RPPS_PHARMACIST, [])})
    certificate = issued_certificate(
        pki, tenant_a.pharmacist_officine, pharmacist, django_capture_on_commit_callbacks
    )
    export = reverse("certificates:export_pkcs12", args=[certificate.pk])

    sign_in_with_psc(page, "claire")
    page.get_by_role("heading", name="Mes officines").wait_for()
    age_browser_session(page, 301)  # the login is no longer a recent confirmation

    page.goto(export)
    page.wait_for_url(re.compile(r"/accounts/psc/reauthenticate/"))
    page.get_by_role("button", name="Confirmer avec Pro Santé Connect").click()
    page.wait_for_url(re.compile(r"/pkcs12/$|/login/\?next=/o/authorize"))
    if "/o/authorize" in page.url:  # the provider asks for the card code again
        page.fill("#op-username", "claire")
        page.fill("#op-password", PASSWORD)
        page.click("#op-submit")
        page.wait_for_url(re.compile(r"/pkcs12/$"))
    passphrase = "Phrase de passe de la carte CPS 2026"
    page.fill("#id_passphrase", passphrase)
    page.fill("#id_passphrase_confirm", passphrase)
    with page.expect_download() as download:
        page.locator("main form[method=post] button[type=submit]").click()
    data = Path(download.value.path()).read_bytes()
    key, _leaf, _chain = pkcs12.load_key_and_certificates(data, passphrase.encode())
    assert key is not None
    assert page.js_errors == []


def test_operator_links_their_psc_identity_after_confirming_the_password(
    psc_configured, tenant_a, page
):
    from tests.factories import PASSWORD as PORTAL_PASSWORD

    psc_configured.set_people({"paul": person(RPPS_STAFF, [])})
    log_in(page, tenant_a.operator.email, totp=True)
    page.locator("header a[href='/accounts/psc/link/']").click()
    page.get_by_role("heading", name="Associer mon identité Pro Santé Connect").wait_for()
    page.locator("#psc-link-reauth").click()
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("input[name=password]", PORTAL_PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/accounts/psc/link/$"))
    page.locator("#psc-link button[type=submit]").click()
    page.wait_for_url(re.compile(r"/login/\?next=/o/authorize"))
    page.fill("#op-username", "paul")
    page.fill("#op-password", PASSWORD)
    page.click("#op-submit")
    page.wait_for_url(re.compile(r"/accounts/psc/link/$"))
    page.locator("#psc-linked").wait_for()
    account = SocialAccount.objects.get(user=tenant_a.operator)
    assert account.uid == "8" + RPPS_STAFF
    assert page.js_errors == []
