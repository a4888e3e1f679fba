"""CRLs of the demo IGC Santé CA served by a real local HTTP server: what is applied, what is
refused, and that a refused or unreachable CRL changes nothing."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command

from certificates import demo_pki
from certificates.models import Certificate, CrlState, RevocationCheck, RevocationRun
from certificates.revocation import points
from certificates.revocation.selectors import last_successful_run, revocation_status
from certificates.revocation.services import revocation_pass
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from portal.models import AuditEvent
from tests.certificates.revocation_servers import CrlServer

CRL_PATH = "/CRL/ACI-EL-ORG.crl"
pytestmark = pytest.mark.django_db


@pytest.fixture
def crl_server():
    with CrlServer() as server:
        yield server


@pytest.fixture
def revocable(tenant_a, make_certificate, trust_anchors, crl_server, settings):
    """Two live certificates of the demo CA whose CDP points at the local server."""
    settings.REVOCATION_OCSP_ENABLED = False  # these tests are about CRLs alone
    url = crl_server.url(CRL_PATH)
    first = make_certificate(tenant_a.officine, common_name="INSI-AUTO", services=("INSI",),
                             crl_url=url)  # fmt: skip
    second = make_certificate(tenant_a.officine, common_name="PSC", crl_url=url)
    return first, second


def serial(certificate: Certificate) -> int:
    return int(certificate.serial, 16)


def test_points_of_an_igc_sante_test_certificate(pki, shared_key, tmp_path):
    """A TEST certificate names the ANS TEST CRL and OCSP; openssl reads the same URLs."""
    _, cert = pki.issue_for(
        finess="690001003", raison_sociale="PHARMACIE TEST", department="Rhône (69)",
        common_name="INSI-MANU", profile="ORG_AUTH_CLI", environment="test", key=shared_key,
    )  # fmt: skip
    assert points.crl_urls(cert) == ["http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG-TEST.crl"]
    assert points.ocsp_urls(cert) == ["http://ocsp.esante.gouv.fr"]
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "crlDistributionPoints,authorityInfoAccess",
         "-in", str(pem)], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "URI:http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG-TEST.crl" in text
    assert "OCSP - URI:http://ocsp.esante.gouv.fr" in text


def test_demo_crl_verifies_with_openssl(pki, tmp_path):
    crl = pki.crl(revoked=[(1234, datetime.now(UTC), x509.ReasonFlags.key_compromise)])
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(demo_pki.to_pem_bundle(*pki.chain_for("production")))
    result = subprocess.run(
        ["openssl", "crl", "-in", str(tmp_path / "crl.pem"), "-CAfile", str(tmp_path / "ca.pem"),
         "-noout", "-text"], capture_output=True, text=True,
    )  # fmt: skip
    assert "verify OK" in result.stderr + result.stdout
    assert "Key Compromise" in result.stdout


def test_fresh_crl_revokes_with_the_cas_date_and_reason(revocable, pki, crl_server, tenant_a):
    first, second = revocable
    endpoint = WebhookEndpoint.objects.create(
        editor=tenant_a.editor, url="https://lgo.example/hook", events=["certificate.revoked"]
    )
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    crl = pki.crl(revoked=[(serial(first), when, x509.ReasonFlags.cessation_of_operation),
                           (987654321, when, x509.ReasonFlags.key_compromise)])  # fmt: skip
    crl_server.publish(CRL_PATH, crl)

    run, report = revocation_pass()

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.revoked_at == when
    assert first.revocation_reason == "cessation"
    assert first.revocation_source == "crl"
    assert first.get_revocation_source_display() == "IGC Santé (CRL)"
    assert second.revoked_at is None
    assert run.succeeded and run.certificates_revoked == 1 and report.revoked == [first.pk]
    state = CrlState.objects.get()
    assert state.crl_number == "1" and state.entries == 2 and state.last_success_at
    assert AuditEvent.objects.filter(action="certificate.revoked_by_ans", target_id=str(first.pk))
    assert AuditEvent.objects.filter(action="revocation.crl_applied").count() == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, certificate=first)
    assert delivery.event == "certificate.revoked"
    assert delivery.payload["data"]["revoked_by"] == "ans"
    assert delivery.payload["data"]["source"] == "IGC Santé (CRL)"
    assert delivery.payload["data"]["action"] == "order_new_certificate"
    notices = Notification.objects.filter(certificate=first)
    assert notices.exists()
    assert all("ANS" in n.title for n in notices)
    # Coverage: the conftest drift guard checks the stored coverage after this test.


def test_conditional_get_and_certificates_imported_later(
    revocable, pki, crl_server, tenant_a, make_certificate
):
    first, _ = revocable
    later = make_certificate(tenant_a.officine, common_name="LATER",
                             crl_url=crl_server.url(CRL_PATH))  # fmt: skip
    when = datetime.now(UTC) - timedelta(hours=1)
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(later), when, None)]))
    Certificate.objects.filter(pk=later.pk).update(superseded_at=datetime.now(UTC))
    revocation_pass()
    assert crl_server.requests[-1][1:] == ("", "200")
    assert Certificate.objects.get(pk=later.pk).revoked_at is None  # not live: not touched

    Certificate.objects.filter(pk=later.pk).update(superseded_at=None)
    _run, report = revocation_pass()
    etag = crl_server.files[CRL_PATH].etag
    assert crl_server.requests[-1] == (CRL_PATH, etag, "304")
    assert report.crls[0]["outcome"] == "not_modified"
    # The kept CRL still applies to certificates that were not live (or not there) before.
    assert Certificate.objects.get(pk=later.pk).revocation_source == "crl"
    assert Certificate.objects.get(pk=first.pk).revoked_at is None


def _other_key_crl(pki):
    return pki.crl(revoked=[], signer_key=rsa.generate_private_key(public_exponent=65537,
                                                                   key_size=2048))  # fmt: skip


BAD = {
    "stale": (lambda pki, revoked: pki.crl(
        revoked=revoked, this_update=datetime.now(UTC) - timedelta(days=10),
        next_update=datetime.now(UTC) - timedelta(days=3)), {}, "stale"),
    "wrong_signer": (lambda pki, revoked: pki.crl(
        revoked=revoked, signer_key=rsa.generate_private_key(public_exponent=65537,
                                                             key_size=2048)), {}, "bad_signature"),
    "future": (lambda pki, revoked: pki.crl(
        revoked=revoked, this_update=datetime.now(UTC) + timedelta(days=1)), {}, "not_yet_valid"),
    "other_ca": (lambda pki, revoked: pki.crl(revoked=revoked, ca="other"), {}, "unknown_issuer"),
    "truncated": (lambda pki, revoked: pki.crl(revoked=revoked), {"truncate_to": 200},
                  "unreachable"),
    "garbage": (lambda pki, revoked: b"<html>maintenance</html>", {}, "unreadable"),
    "http_500": (lambda pki, revoked: pki.crl(revoked=revoked), {"status": 500}, "unreachable"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_crls_change_nothing(case, revocable, pki, crl_server):
    first, _second = revocable
    make, options, code = BAD[case]
    when = datetime.now(UTC) - timedelta(days=1)
    crl_server.publish(CRL_PATH, make(pki, [(serial(first), when, None)]), **options)

    run, _report = revocation_pass()

    assert Certificate.objects.filter(revoked_at__isnull=False).count() == 0
    assert not run.succeeded and run.crls_failed == 1
    state = CrlState.objects.get()
    assert state.last_error_code == code, state.last_error
    assert state.last_success_at is None
    assert AuditEvent.objects.filter(action__startswith="revocation.crl_", outcome="failure")


def test_unreachable_server_changes_nothing(revocable, crl_server):
    crl_server.httpd.server_close()  # nothing listens on the port any more
    crl_server.httpd.shutdown()
    run, _ = revocation_pass()
    assert not run.succeeded
    assert CrlState.objects.get().last_error_code == "unreachable"
    assert not Certificate.objects.filter(revoked_at__isnull=False).exists()


def test_older_crl_is_refused_and_a_revocation_is_never_undone(revocable, pki, crl_server):
    first, second = revocable
    when = datetime.now(UTC) - timedelta(days=1)
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(first), when, None)], number=7))
    revocation_pass()
    assert Certificate.objects.get(pk=first.pk).revoked_at is not None

    # A replayed older CRL listing the second certificate: refused, nothing applied.
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(second), when, None)], number=6))
    run, _ = revocation_pass()
    assert CrlState.objects.get().last_error_code == "older"
    assert Certificate.objects.get(pk=second.pk).revoked_at is None
    assert CrlState.objects.get().crl_number == "7"

    # A newer CRL without the first certificate does not bring it back.
    crl_server.publish(CRL_PATH, pki.crl(revoked=[], number=8))
    run, _ = revocation_pass()
    assert run.succeeded
    first.refresh_from_db()
    assert first.revoked_at is not None and first.revocation_source == "crl"


def test_delta_crl_and_remove_from_crl(revocable, pki, crl_server):
    first, second = revocable
    when = datetime.now(UTC) - timedelta(days=1)
    delta_path = "/CRL/ACI-EL-ORG-delta.crl"
    base = pki.crl(revoked=[(serial(first), when, None)], number=10,
                   freshest_url=crl_server.url(delta_path))  # fmt: skip
    delta = pki.crl(revoked=[(serial(second), when, x509.ReasonFlags.key_compromise),
                             (serial(first), when, x509.ReasonFlags.remove_from_crl)],
                    number=11, delta_of=10)  # fmt: skip
    crl_server.publish(CRL_PATH, base)
    crl_server.publish(delta_path, delta)

    run, report = revocation_pass()

    assert run.succeeded
    assert report.crls[0]["delta"]["outcome"] == "applied"
    assert Certificate.objects.get(pk=second.pk).revocation_reason == "key_compromise"
    kept = Certificate.objects.get(pk=first.pk)
    assert kept.revoked_at is not None  # removeFromCRL never undoes a revocation...
    assert RevocationCheck.objects.get(certificate=kept).removed_from_crl_at  # ...it is shown
    assert AuditEvent.objects.filter(action="certificate.removed_from_crl").exists()


def test_offline_folder_and_mirror(revocable, pki, crl_server, settings, tmp_path):
    first, second = revocable
    when = datetime.now(UTC) - timedelta(days=1)
    settings.REVOCATION_OFFLINE_DIR = str(tmp_path)
    (tmp_path / "ACI-EL-ORG.crl").write_bytes(
        pki.crl(revoked=[(serial(first), when, None)]).public_bytes(serialization.Encoding.DER)
    )
    run, _ = revocation_pass()
    assert run.succeeded and crl_server.requests == []
    assert Certificate.objects.get(pk=first.pk).revoked_at is not None

    settings.REVOCATION_OFFLINE_DIR = ""
    settings.REVOCATION_CRL_MIRROR = crl_server.url("/mirror/")
    crl_server.publish("/mirror/ACI-EL-ORG.crl",
                       pki.crl(revoked=[(serial(second), when, None)], number=2))  # fmt: skip
    run, _ = revocation_pass()
    assert run.succeeded and crl_server.requests[-1][0] == "/mirror/ACI-EL-ORG.crl"
    assert Certificate.objects.get(pk=second.pk).revoked_at is not None


def test_per_ca_override(revocable, pki, crl_server, settings):
    first, _ = revocable
    settings.REVOCATION_CA_OVERRIDES = {
        "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS": {"crl": crl_server.url("/override.crl")}
    }
    when = datetime.now(UTC) - timedelta(days=1)
    crl_server.publish("/override.crl", pki.crl(revoked=[(serial(first), when, None)]))
    run, _ = revocation_pass()
    assert run.succeeded and crl_server.requests[-1][0] == "/override.crl"


def test_unknown_status_when_the_ca_is_unreachable_too_long(revocable, pki, crl_server, settings):
    first, _ = revocable
    crl_server.publish(CRL_PATH, pki.crl(revoked=[]))
    revocation_pass()
    status = revocation_status(first)
    assert not status.unknown and status.method == "crl" and status.checked_at

    crl_server.files[CRL_PATH].status = 500
    later = datetime.now(UTC) + timedelta(hours=settings.REVOCATION_UNKNOWN_AFTER_HOURS + 1)
    revocation_pass(now=later)
    status = revocation_status(first, now=later)
    assert status.unknown
    assert Certificate.objects.get(pk=first.pk).revoked_at is None


def test_command_json(revocable, pki, crl_server, tenant_a):
    first, _ = revocable
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(first), datetime.now(UTC), None)]))
    out = StringIO()
    call_command("check_revocation", "--editor", str(tenant_a.editor.pk), "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["revoked"] == [first.pk]
    assert result["crls"][0]["outcome"] == "applied"
    assert RevocationRun.objects.get().trigger == "command"
    assert last_successful_run() == RevocationRun.objects.get()
    assert last_successful_run(trigger="beat") is None


def test_through_the_proxy_with_the_real_ans_address(tenant_a, make_certificate, trust_anchors,
                                                    pki, crl_server, settings):  # fmt: skip
    """The certificate names the real ANS CDP; the proxy (our local server) is asked for it."""
    settings.REVOCATION_OCSP_ENABLED = False
    settings.REVOCATION_HTTP_PROXY = crl_server.base
    certificate = make_certificate(tenant_a.officine)  # CDP: http://igc-sante.esante.gouv.fr/...
    crl_server.publish(demo_pki.CRL_URL, pki.crl(revoked=[(serial(certificate),
                                                           datetime.now(UTC), None)]))  # fmt: skip
    run, _ = revocation_pass()
    assert run.succeeded, run.report
    assert crl_server.requests[-1][0] == demo_pki.CRL_URL  # absolute URL: a proxy request
    assert Certificate.objects.get(pk=certificate.pk).revocation_source == "crl"


def test_size_limit(revocable, pki, crl_server, settings):
    first, _ = revocable
    settings.REVOCATION_MAX_CRL_BYTES = 100
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(first), datetime.now(UTC), None)]))
    run, _ = revocation_pass()
    assert not run.succeeded
    assert "too large" in CrlState.objects.get().last_error
    assert Certificate.objects.get(pk=first.pk).revoked_at is None


def test_notice_email_says_ans_revoked_it(revocable, pki, crl_server, tenant_a, mailoutbox):
    from notifications.revocations import revocation_notice_send

    first, _ = revocable
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(first), datetime.now(UTC),
                                                   x509.ReasonFlags.key_compromise)]))  # fmt: skip
    revocation_pass()
    sent = revocation_notice_send(editor_id=tenant_a.editor.pk, certificate_id=first.pk)
    assert sent == len(mailoutbox) >= 1
    message = mailoutbox[0]
    assert "révoqué par l'ANS" in message.subject
    assert "Commandez un nouveau certificat" in message.body
    assert "IGC Santé (CRL)" in message.body


def test_command_one_certificate_falls_back_to_the_crl(revocable, pki, crl_server):
    first, second = revocable
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(first), datetime.now(UTC), None),
                                                  (serial(second), datetime.now(UTC), None)]))  # fmt: skip
    out = StringIO()
    call_command("check_revocation", "--certificate", str(first.pk), "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["status"] == "revoked" and result["method"] == "crl"
    assert result["revoked"] == [first.pk]
    assert Certificate.objects.get(pk=second.pk).revoked_at is None  # scoped to the one asked


def test_alerts_stop_for_a_certificate_ans_revoked(tenant_a, make_certificate, trust_anchors,
                                                   pki, crl_server, settings):  # fmt: skip
    from django.utils import timezone

    from notifications.scan import alert_scan

    settings.REVOCATION_OCSP_ENABLED = False
    soon = make_certificate(tenant_a.officine, common_name="SOON",
                            not_after=timezone.now() + timedelta(days=10),
                            crl_url=crl_server.url(CRL_PATH))  # fmt: skip
    before = alert_scan(dry_run=True, editor_ids=[tenant_a.editor.pk])
    assert soon.pk in {a.certificate_id for a in before.alerts}
    crl_server.publish(CRL_PATH, pki.crl(revoked=[(serial(soon), datetime.now(UTC), None)]))
    revocation_pass()
    assert CrlState.objects.get().last_modified  # kept for the next conditional GET
    after = alert_scan(dry_run=True, editor_ids=[tenant_a.editor.pk])
    assert soon.pk not in {a.certificate_id for a in after.alerts}
