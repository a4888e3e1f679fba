"""OCSP against a real `openssl ocsp` responder for the demo IGC Santé CA: good, revoked,
unknown, wrong signers, the nonce and the cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certificates.models import Certificate, RevocationCheck
from certificates.revocation import ocsp
from certificates.revocation.ocsp_check import certificate_ocsp_check
from certificates.revocation.selectors import revocation_status
from certificates.revocation.services import certificate_revocation_check
from portal.models import AuditEvent
from tests.certificates.revocation_servers import OpensslOcsp, free_port, index_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def responder_key(pki):
    return pki.ocsp_responder()


def _leaf(certificate: Certificate):
    from cryptography import x509

    return x509.load_pem_x509_certificate(certificate.pem.encode())


@pytest.fixture
def three(tenant_a, make_certificate, trust_anchors, settings):
    """good, revoked, unknown: certificates whose AIA will point at the responder's port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    made = [
        make_certificate(tenant_a.officine, common_name=name, ocsp_url=url)
        for name in ("GOOD", "REVOKED", "UNKNOWN")
    ]
    return port, made


def _responder(tmp_path, pki, port, certificates, *, signer=None, key=None, revoked_at=None):
    good, revoked, _unknown = (_leaf(c) for c in certificates)
    revoked_at = revoked_at or datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    server = OpensslOcsp(
        tmp_path / "ocsp",
        ca=pki.organisations.certificate,
        signer=signer,
        key=key,
        lines=[index_line(good), index_line(revoked, revoked_at, "keyCompromise")],
    )
    server.port = port
    server.args[server.args.index("-port") + 1] = str(port)
    return server, revoked_at


def test_good_revoked_unknown(three, pki, tmp_path, responder_key):
    port, (good, revoked, unknown) = three
    key, cert = responder_key
    server, revoked_at = _responder(tmp_path, pki, port, (good, revoked, unknown),
                                    signer=cert, key=key)  # fmt: skip
    with server:
        outcomes = [certificate_ocsp_check(certificate=c) for c in (good, revoked, unknown)]
    assert [o.status for o in outcomes] == ["good", "revoked", "unknown"]
    revoked.refresh_from_db()
    assert revoked.revoked_at == revoked_at
    assert revoked.revocation_reason == "key_compromise"
    assert revoked.revocation_source == "ocsp"
    good.refresh_from_db()
    unknown.refresh_from_db()
    assert good.revoked_at is None and unknown.revoked_at is None  # "unknown" changes nothing
    check = RevocationCheck.objects.get(certificate=good)
    assert check.ocsp_status == "good" and check.ocsp_next_update > datetime.now(UTC)
    assert "OCSP" in check.ocsp_responder  # the delegated responder signed
    status = revocation_status(good)
    assert status.method == "ocsp" and not status.unknown
    assert AuditEvent.objects.filter(action="certificate.ocsp_check").count() == 3


def test_answer_is_cached_until_next_update(three, pki, tmp_path, responder_key):
    port, certificates = three
    key, cert = responder_key
    server, _ = _responder(tmp_path, pki, port, certificates, signer=cert, key=key)
    with server:
        assert certificate_ocsp_check(certificate=certificates[0]).status == "good"
    # The responder is gone: the cached answer is used, nothing waits on the network.
    again = certificate_ocsp_check(certificate=certificates[0])
    assert again.cached and again.status == "good"
    fresh = certificate_ocsp_check(certificate=certificates[0], use_cache=False)
    assert fresh.status == "error"


def test_ca_itself_may_sign(three, pki, tmp_path):
    port, certificates = three
    server, _ = _responder(tmp_path, pki, port, certificates,
                           signer=pki.organisations.certificate, key=pki.organisations.key)  # fmt: skip
    with server:
        outcome = certificate_ocsp_check(certificate=certificates[1])
    assert outcome.status == "revoked" and outcome.revoked, outcome.message
    assert RevocationCheck.objects.get(certificate=certificates[1]).ocsp_responder == "CA"


@pytest.mark.parametrize("signer", ["no_ocsp_eku", "other_ca", "self_made"])
def test_wrong_signers_change_nothing(signer, three, pki, tmp_path):
    port, certificates = three
    if signer == "no_ocsp_eku":
        key, cert = pki.ocsp_responder(ocsp_eku=False)
    elif signer == "other_ca":
        key, cert = pki.ocsp_responder(ca="other")
    else:  # right name, key of nobody
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = pki.organisations.certificate
    server, _ = _responder(tmp_path, pki, port, certificates, signer=cert, key=key)
    with server:
        outcome = certificate_ocsp_check(certificate=certificates[1])
    assert outcome.status == "error"
    assert Certificate.objects.get(pk=certificates[1].pk).revoked_at is None
    assert RevocationCheck.objects.get(certificate=certificates[1]).last_error
    assert AuditEvent.objects.filter(action="certificate.ocsp_check", outcome="failure").exists()


def test_unreachable_and_garbage_change_nothing(three, settings):
    _port, certificates = three  # nothing listens on the port
    outcome = certificate_revocation_check(certificate=certificates[1], timeout=2)
    assert outcome.status == "error"
    assert Certificate.objects.get(pk=certificates[1].pk).revoked_at is None


def test_nonce_is_checked(pki, shared_key):
    """Real responder answers echo the request's nonce; another nonce is refused."""
    _, cert = pki.issue_for(finess="690001003", raison_sociale="P", department="Rhône (69)",
                            common_name="X", profile="ORG_AUTH_CLI", key=shared_key)  # fmt: skip
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp as cocsp

    now = datetime.now(UTC)
    answer = (
        cocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert, issuer=pki.organisations.certificate, algorithm=hashes.SHA1(),  # noqa: S303
            cert_status=cocsp.OCSPCertStatus.GOOD, this_update=now,
            next_update=now + timedelta(hours=1), revocation_time=None, revocation_reason=None,
        )
        .responder_id(cocsp.OCSPResponderEncoding.HASH, pki.organisations.certificate)
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .sign(pki.organisations.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )  # fmt: skip
    issuer = pki.organisations.certificate
    ok = ocsp.verify_response(answer, cert=cert, issuer=issuer, nonce=b"0123456789abcdef")
    assert ok.status == "good" and ok.responder == "CA"
    with pytest.raises(ocsp.OcspError) as error:
        ocsp.verify_response(answer, cert=cert, issuer=issuer, nonce=b"another-nonce-16")
    assert error.value.code == "nonce_mismatch"
    with pytest.raises(ocsp.OcspError) as error:
        ocsp.verify_response(b"garbage", cert=cert, issuer=issuer, nonce=None)
    assert error.value.code == "unreadable"


def test_ocsp_is_the_fallback_when_the_crl_fails(three, pki, tmp_path, responder_key, settings):
    """Beat pass: the CRL cannot be had (nothing listens), OCSP answers for the certificates."""
    from certificates.revocation.services import revocation_pass

    port, certificates = three
    key, cert = responder_key
    server, _revoked_at = _responder(tmp_path, pki, port, certificates, signer=cert, key=key)
    settings.REVOCATION_CA_OVERRIDES = {
        "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS": {"crl": f"http://127.0.0.1:{free_port()}/x.crl"}
    }
    with server:
        run, report = revocation_pass()
    assert not run.succeeded  # the CRL failed, and says so
    assert {o["status"] for o in report.ocsp} == {"good", "revoked", "unknown"}
    assert report.revoked == [certificates[1].pk]
    assert Certificate.objects.get(pk=certificates[1].pk).revocation_source == "ocsp"
