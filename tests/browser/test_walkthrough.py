"""The portal in a real browser (Chromium through Playwright), against a live server.

An operator logs in with TOTP, reads the dashboard, searches officines, imports a CSV (a bad
row, then the corrected file), orders an INSi certificate (a wrong CN refused live, then
INSI-AUTO), uploads the certificate issued for the CSR, exports a PKCS#12 after
re-authenticating, and runs a renewal campaign; a pharmacist sees only their officine.
Screenshots of the key pages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from allauth.mfa.models import Authenticator
from cryptography.hazmat.primitives.serialization import pkcs12
from django.urls import reverse

from certificates.models import CampaignStatus, Certificate, CertificateRequest, RenewalCampaign
from officines import identifiers
from officines.models import Officine
from portal.management.commands.demo_totp import current_code
from portal.models import Role
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.helpers.browser import log_in
from tests.ui.certificate_support import issue_pem

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSPHRASE = "Phrase de passe du navigateur 2026"


def submit(page, form_selector: str = "main form[method=post]") -> None:
    page.locator(form_selector).last.locator(
        "button[type=submit]:not(.default-action)"
    ).last.click()


def wizard_next(page, *, swap: bool = True) -> None:
    """Click the wizard's main button and wait until htmx has swapped the next step in."""
    if swap:  # mark the current step: its replacement is the element without the mark
        page.evaluate("document.getElementById('wizard').dataset.stale = '1'")
    page.locator(".wizard-buttons button[name=action]").first.click()
    if swap:
        page.locator("#wizard:not([data-stale])").wait_for()


def test_operator_walkthrough(
    page_for, screenshot, tenant_a, tenant_b, pki, trust_anchors, tmp_path
):
    page = page_for()
    officine = tenant_a.officine

    # Login with password then TOTP; the dashboard opens.
    log_in(page, tenant_a.operator.email, totp=True)
    page.goto(reverse("dashboard"))
    assert page.locator("h1").count() >= 1
    screenshot(page, "01-dashboard")

    # Officine search.
    page.goto(reverse("officines:list"))
    page.fill("input[name=q]", officine.finess)
    page.locator("form[role=search] button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"q="))
    page.get_by_text(officine.raison_sociale).first.wait_for()
    assert tenant_b.officine.finess not in page.content()
    screenshot(page, "02-officine-search")

    # CSV import: a bad row is reported, the corrected file is imported.
    good = identifiers.generate_finess("69", 777)
    bad_finess = good[:-1] + str((int(good[-1]) + 1) % 10)
    header = "FINESS géographique;Raison sociale;Code postal;Ville\n"
    bad = tmp_path / "officines.csv"
    bad.write_text(header + f"{bad_finess};PHARMACIE DU NAVIGATEUR;69001;Lyon\n", encoding="utf-8")
    page.goto(reverse("officines:import"))
    page.set_input_files("input[type=file]", str(bad))
    submit(page)
    page.wait_for_url(re.compile(r"/officines/import/\d+/"))
    page.locator("#errors").wait_for()
    screenshot(page, "03-csv-import-errors")
    assert not Officine.objects.filter(finess__in=[good, bad_finess]).exists()
    fixed = tmp_path / "officines-corrige.csv"
    fixed.write_text(header + f"{good};PHARMACIE DU NAVIGATEUR;69001;Lyon\n", encoding="utf-8")
    page.goto(reverse("officines:import"))
    page.set_input_files("input[type=file]", str(fixed))
    submit(page)
    page.wait_for_url(re.compile(r"/officines/import/\d+/"))
    page.locator("form[action$='/confirm/'] button[type=submit]").click()
    page.locator("[role=status]").first.wait_for()
    assert Officine.objects.filter(editor=tenant_a.editor, finess=good).exists()
    screenshot(page, "04-csv-import-done")

    # INSi request wizard: search the officine, choose INSi, a bad CN is refused live.
    page.goto(reverse("certificates:request_create"))
    with page.expect_response(lambda r: "/requests/new/officines/" in r.url):
        page.fill("#officine-search", officine.finess)
    page.locator("#officine-results legend").filter(has_text=officine.finess).wait_for()
    page.check(f"#officine-{officine.pk}")
    wizard_next(page)
    page.locator("#service-INSI").wait_for()
    page.check("#service-INSI")
    wizard_next(page)
    cn = page.locator("#id_common_name")
    cn.wait_for()
    cn.fill("insi-auto")
    page.locator("#cn-feedback .errorlist").wait_for()
    screenshot(page, "05-wizard-insi-refused")
    wizard_next(page)  # the server refuses it too
    page.locator("#cn-feedback .errorlist").wait_for()
    assert page.locator("ol.steps li[aria-current=step]").inner_text().strip().startswith("3")
    page.locator("#id_common_name").fill("INSI-AUTO")
    page.locator("#cn-feedback .ok").wait_for()
    # The portal makes the key (CSR mode, where the LGO keeps it, is the default): the walk
    # later exports it as a PKCS#12.
    page.check("input[name=key_mode][value=server]")
    wizard_next(page)
    page.locator("dl.review").wait_for()
    screenshot(page, "06-wizard-review")
    wizard_next(page, swap=False)  # create: htmx follows HX-Redirect
    page.wait_for_url(re.compile(r"/certificates/requests/\d+/$"))
    request = CertificateRequest.objects.get(officine=officine, common_name="INSI-AUTO")
    assert request.status == "csr_ready"
    assert page.locator(
        f"a[href='{reverse('certificates:request_csr', args=[request.pk])}']"
    ).count()
    screenshot(page, "07-request-csr-ready")

    # Submitted to ANS, then the issued certificate is uploaded and matched.
    page.locator(
        f"form[action='{reverse('certificates:request_submit', args=[request.pk])}'] button"
    ).click()
    page.wait_for_url(re.compile(r"/certificates/requests/\d+/$"))
    issued = tmp_path / "INSI-AUTO.pem"
    issued.write_bytes(issue_pem(pki, CertificateRequest.objects.get(pk=request.pk)))
    page.set_input_files("#id_certificate", str(issued))
    page.locator(".dropzone-files").filter(has_text="INSI-AUTO.pem").wait_for()
    page.locator("form.upload-certificate button[type=submit]").click()
    page.wait_for_url(re.compile(r"/certificates/\d+/$"))
    certificate = Certificate.objects.get(request=request)
    assert page.url.endswith(certificate.get_absolute_url())
    screenshot(page, "08-certificate-detail")

    # PKCS#12: confirm the password first, then choose the passphrase.
    page.locator(
        f"a[href='{reverse('certificates:export_pkcs12', args=[certificate.pk])}']"
    ).click()
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/pkcs12/$"))
    page.fill("#id_passphrase", PASSPHRASE)
    page.fill("#id_passphrase_confirm", PASSPHRASE)
    screenshot(page, "09-pkcs12-form")
    with page.expect_download() as download:
        page.locator("main form[method=post] button[type=submit]").click()
    data = Path(download.value.path()).read_bytes()
    key, leaf, _chain = pkcs12.load_key_and_certificates(data, PASSPHRASE.encode())
    assert key is not None and leaf.subject.rfc4514_string().startswith("CN=INSI-AUTO")

    # Renewal campaign of this certificate, to completion.
    page.goto(reverse("certificates:campaign_create"))
    page.fill("#id_name", "Campagne navigateur")
    page.check("input[name=mode][value=selection]")
    page.check(f"#cert-{certificate.pk}")
    page.locator("main form[method=post] > button[type=submit]").click()
    page.wait_for_url(re.compile(r"/certificates/campaigns/\d+/$"))
    campaign = RenewalCampaign.objects.get(name="Campagne navigateur")
    assert campaign.status == CampaignStatus.DONE and campaign.completed == 1
    page.locator("#campaign-progress progress[value='1']").wait_for()
    screenshot(page, "10-campaign-done")
    with page.expect_download() as download:
        page.locator(
            f"a[href='{reverse('certificates:campaign_zip', args=[campaign.pk])}']"
        ).click()
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as archive:
        assert any(name.endswith(".csr") for name in archive.namelist())
        assert "fiche-ans.csv" in archive.namelist()

    # The certificate page on a phone.
    phone = page_for(phone=True)
    log_in(phone, tenant_a.admin.email, totp=True)
    phone.goto(certificate.get_absolute_url())
    screenshot(phone, "11-certificate-phone")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.js_errors == [] and phone.js_errors == [], "\n".join(
        page.js_errors + phone.js_errors
    )


def test_pharmacist_sees_only_their_officine(page_for, screenshot, tenant_a, make_certificate):
    mine = make_certificate(tenant_a.pharmacist_officine, common_name="MON-LGO")
    other = make_certificate(tenant_a.officine, common_name="AUTRE-LGO")
    page = page_for()
    log_in(page, tenant_a.pharmacist.email, totp=False)
    page.goto(reverse("certificates:my_officines"))
    page.get_by_text(tenant_a.pharmacist_officine.raison_sociale).first.wait_for()
    body = page.content()
    assert "MON-LGO" in body and "AUTRE-LGO" not in body
    assert tenant_a.officine.finess not in body
    screenshot(page, "12-pharmacist-officines")
    page.goto(reverse("certificates:list"))
    body = page.content()
    assert mine.get_absolute_url() in body and other.get_absolute_url() not in body
    assert page.js_errors == [], "\n".join(page.js_errors)
    response = page.goto(other.get_absolute_url())
    assert response.status == 404


def test_new_admin_enrols_totp_with_javascript(page_for, screenshot, tenant_a):
    """A fresh editor admin (invited, no TOTP yet) enrols from the secret on the page.

    JavaScript is on, so the menu's htmx badge (and any other background request) loads with
    the enrolment page: none of them may replace the secret being verified.
    """
    admin = MembershipFactory(
        editor=tenant_a.editor, role=Role.ADMIN, user=UserFactory(email="nouvel-admin@a.fr")
    ).user
    page = page_for()
    page.goto(reverse("account_login"))
    page.fill("input[name=login]", admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
    # Every request the page starts by itself (htmx badge, polls) has answered.
    page.wait_for_load_state("networkidle")
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    screenshot(page, "13-totp-enrolment")
    remaining = 30 - time.time() % 30
    if remaining < 3:
        page.wait_for_timeout((remaining + 0.5) * 1000)
    page.fill("input[name=code]", current_code(secret))
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    assert "/totp/activate/" not in page.url, "code refused: " + " ".join(
        page.locator("main .errorlist, main [role=alert]").all_inner_texts()
    )
    assert Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).exists()
    page.goto(reverse("dashboard"))
    assert page.url.endswith(reverse("dashboard")), page.url
    page.wait_for_load_state("networkidle")
    assert page.js_errors == [], "\n".join(page.js_errors)
