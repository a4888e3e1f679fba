"""A renewal whose key stays at the pharmacy, in a real browser (JavaScript on): the operator
renews a certificate the portal never held the key of, the request page says it awaits its
CSR and shows the exact subject, a CSR made by `openssl` with another subject is refused
naming the field, the right one is accepted. Then the officine goes to mode « pharmacien »
through the confirmation page, and the operator can no longer renew for it."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse
from django.utils import timezone

from certificates.models import CertificateRequest
from officines.models import Officine
from portal.models import AuditEvent
from tests.helpers.browser import log_in
from tests.helpers.certificates import certificate_row

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def openssl_csr(tmp_path, name: str, subject: dict[str, str]):
    path = tmp_path / f"{name}.csr"
    dn = "".join(f"/{field}={value}" for field, value in subject.items())
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-utf8",
            "-keyout",
            str(tmp_path / f"{name}.key"),
            "-out",
            str(path),
            "-subj",
            dn,
        ],
        check=True,
        capture_output=True,
    )
    return path


def test_renewal_awaiting_its_csr_then_cas_2(page_for, screenshot, tenant_a, pki, tmp_path):
    officine = tenant_a.officine  # mode « éditeur »
    certificate = certificate_row(
        pki,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        officine,
        common_name="INSI-AUTO",
        services=("INSI",),
        not_after=timezone.now() + timedelta(days=20),
    )
    page = page_for()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, tenant_a.operator.email, totp=True)

    page.goto(reverse("certificates:detail", args=[certificate.pk]))
    page.get_by_role("button", name="Renouveler (nouvelle clé)").click()
    page.wait_for_url(re.compile(r"/certificates/requests/\d+/$"))
    request = CertificateRequest.objects.get(renews=certificate)
    assert request.status == "awaiting_csr" and request.key_mode == "csr"
    panel = page.locator("#awaiting-csr")
    panel.wait_for()
    assert "En attente de la CSR" in panel.inner_text()
    expected = dict(
        zip(
            panel.locator("dt").all_inner_texts(),
            panel.locator("dd").all_inner_texts(),
            strict=True,
        )
    )
    assert expected["OU"] == "1" + officine.finess and expected["CN"] == "INSI-AUTO"
    screenshot(page, "30-awaiting-csr")

    # A CSR whose O differs is refused, naming the field and both values; nothing changes.
    wrong = openssl_csr(tmp_path, "wrong", {**expected, "O": "PHARMACIE AUTRE"})
    page.set_input_files("form[action$='/upload-csr/'] input[type=file]", str(wrong))
    with page.expect_navigation():
        page.locator("form[action$='/upload-csr/'] button[type=submit]").click()
    error = page.locator("form[action$='/upload-csr/'] .errorlist, [role=alert]").first
    error.wait_for()
    assert "PHARMACIE AUTRE" in error.inner_text() and expected["O"] in error.inner_text()
    request.refresh_from_db()
    assert request.status == "awaiting_csr" and not request.csr_pem
    # The refused form comes back as a 400, which Chromium logs: expected here, and only that.
    assert all("status of 400" in e and "/upload-csr/" in e for e in page.js_errors)
    page.js_errors.clear()

    right = openssl_csr(tmp_path, "right", expected)
    page.set_input_files("form[action$='/upload-csr/'] input[type=file]", str(right))
    with page.expect_navigation():
        page.locator("form[action$='/upload-csr/'] button[type=submit]").click()
    page.get_by_text("CSR reçue").first.wait_for()
    request.refresh_from_db()
    assert request.status == "csr_ready" and not request.encrypted_private_key
    assert request.csr_pem.strip() == right.read_text().strip()
    screenshot(page, "31-csr-received")

    # Cas 2: the change of mode asks for confirmation and says what changes.
    page.goto(reverse("officines:update", args=[officine.pk]))
    page.select_option("select[name=delegation_mode]", "pharmacien")
    administrator = page.locator("select[name=technical_administrator]")
    if administrator.count():
        administrator.select_option("")  # a CPA administrator cannot serve a Cas 2 officine
    page.locator("main form button[type=submit]").first.click()
    page.get_by_role("heading", name=re.compile("Changer le mode de délégation")).wait_for()
    assert "sans délégation" in page.content()
    screenshot(page, "32-mode-confirm")
    page.get_by_role("button", name="Confirmer le changement de mode").click()
    page.wait_for_url(re.compile(rf"/officines/{officine.pk}/$"))
    assert Officine.objects.get(pk=officine.pk).delegation_mode == "pharmacien"
    assert AuditEvent.objects.filter(action="officine.delegation_mode").exists()

    # The operator sees the certificate but may no longer renew it.
    page.goto(reverse("certificates:detail", args=[certificate.pk]))
    assert page.get_by_role("button", name="Renouveler (nouvelle clé)").count() == 0 or (
        page.get_by_role("button", name="Renouveler (nouvelle clé)").is_disabled()
    )
    assert page.js_errors == [], "\n".join(page.js_errors)
