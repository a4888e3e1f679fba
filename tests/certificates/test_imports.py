"""certificate_import with real keys, a generated IGC Santé-like PKI and the real openssl."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.db import IntegrityError, transaction
from django.utils import translation

from certificates import trust
from certificates import x509 as igc
from certificates.coverage import coverage_refresh
from certificates.demo_pki import DemoPKI, to_pem_bundle
from certificates.importing import (
    ImportReport,
    certificate_import,
    certificates_import_files,
    department_from_state,
    infer_services,
)
from certificates.models import Certificate, CertificateRequest, RequestStatus
from certificates.representation import certificate_dict, import_result_dict
from officines.models import Officine
from portal.models import AuditEvent
from tests.factories import OfficineFactory
from tests.helpers.imports import FORMATS, PASSPHRASE, encode, issue, openssl_fields
from tests.helpers.tools import requires_openssl

PROFILES = ["ORG_AUTH_CLI", "ORG_SIGN", "ORG_CONF", "SERV_SSL"]
# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _english():
    """Messages are checked in English (the msgids), whatever the French catalogue says."""
    with translation.override("en"):
        yield


@pytest.fixture(scope="session")
def request_keys():
    """Distinct keys for certificates that must match (or not) a request's key."""
    return [igc.generate_private_key() for _ in range(3)]


def openssl_date(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=UTC)


def snapshot() -> dict:
    """Everything an import may change: compared before/after a refused import."""
    return {
        "certificates": sorted(
            Certificate.objects.values_list(
                "id", "fingerprint_sha256", "superseded_at", "replaces_id", "request_id"
            )
        ),
        "requests": sorted(CertificateRequest.objects.values_list("id", "status", "issued_at")),
        "officines": sorted(Officine.objects.values_list("id", "finess")),
    }


def make_request(officine, key, *, status=RequestStatus.CSR_READY, **fields):
    """A request row holding `key`'s public key, as the keys service leaves it."""
    defaults = {
        "profile": "ORG_AUTH_CLI",
        "services": ["PSC"],
        "common_name": "LGO",
        "key_mode": "csr",
        "requester_email": "admin-tech@lgo.example",
    }
    defaults.update(fields)
    return CertificateRequest.objects.create(
        editor_id=officine.editor_id,
        officine=officine,
        public_key_sha256=igc.public_key_sha256(key.public_key()),
        status=status,
        **defaults,
    )


def only(report: ImportReport):
    assert len(report.results) == 1, report.results
    return report.results[0]


# --------------------------------------------------------------------------- every format


@requires_openssl
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("profile", PROFILES)
def test_import_every_profile_in_every_format(
    fmt, profile, tenant_a, pki, shared_key, trust_anchors, tmp_path
):
    officine = tenant_a.officine
    cert = issue(pki, officine, shared_key, profile=profile, common_name="INSI-AUTO")
    chain = pki.chain_for("production")

    report = certificate_import(
        editor=tenant_a.editor,
        data=encode(fmt, cert, chain, key=shared_key),
        password=PASSPHRASE if fmt == "p12" else None,
        actor=tenant_a.operator,
        filename=f"cert.{fmt}",
    )

    result = only(report)
    assert (result.result, result.code) == ("imported", "imported"), result.reason
    stored = Certificate.objects.get(pk=result.certificate.pk)
    seen = openssl_fields(stored.pem, tmp_path)
    assert stored.serial == seen["serial"]
    assert stored.fingerprint_sha256 == seen["fingerprint"]
    assert stored.subject_dn == seen["subject"]
    assert stored.issuer_dn == seen["issuer"]
    assert stored.not_before == openssl_date(seen["not_before"])
    assert stored.not_after == openssl_date(seen["not_after"])
    assert stored.pem.encode() == cert.public_bytes(serialization.Encoding.PEM)
    assert stored.public_key_sha256 == igc.public_key_sha256(shared_key.public_key())
    assert (stored.editor_id, stored.officine_id) == (tenant_a.editor.pk, officine.pk)
    assert (stored.profile, stored.common_name) == (profile, "INSI-AUTO")
    assert (stored.environment, stored.chain_status) == ("production", "trusted_production")
    # The chain stored is the validated one (intermediate then root), whatever the file held.
    stored_chain = cx509.load_pem_x509_certificates(stored.chain_pem.encode())
    assert stored_chain == chain
    expected_services = {"ORG_AUTH_CLI": ["INSI"], "ORG_SIGN": ["DMP"]}.get(profile, [])
    assert stored.services == expected_services
    assert stored.imported_by == tenant_a.operator
    assert stored.status == "valid" and stored.replaces is None
    if fmt == "p12":
        assert any("private key" in w for w in result.warnings), result.warnings
    event = AuditEvent.objects.get(action="certificate.import", target_id=str(stored.pk))
    assert event.editor_id == tenant_a.editor.pk and event.actor == tenant_a.operator
    assert event.details["fingerprint_sha256"] == stored.fingerprint_sha256


def test_test_environment_comes_from_the_chain(tenant_a, pki, shared_key, trust_anchors):
    officine = OfficineFactory(editor=tenant_a.editor, environment="test")
    cert = issue(pki, officine, shared_key, environment="test")
    result = only(
        certificate_import(
            editor=tenant_a.editor, data=encode("pem_chain", cert, pki.chain_for("test"))
        )
    )
    assert result.result == "imported", result.reason
    assert (result.certificate.environment, result.certificate.chain_status) == (
        "test",
        "trusted_test",
    )
    assert result.warnings == []


def test_test_certificate_for_production_officine_is_flagged(
    tenant_a, pki, shared_key, trust_anchors
):
    cert = issue(pki, tenant_a.officine, shared_key, environment="test")
    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", cert, [])))
    assert result.result == "imported"
    assert result.certificate.environment == "test"
    assert any("environment" in w for w in result.warnings)


def test_leaf_alone_is_completed_from_the_trust_anchors(tenant_a, pki, shared_key, trust_anchors):
    cert = issue(pki, tenant_a.officine, shared_key)
    result = only(certificate_import(editor=tenant_a.editor, data=encode("der", cert, [])))
    assert result.certificate.chain_status == "trusted_production"
    assert cx509.load_pem_x509_certificates(result.certificate.chain_pem.encode()) == (
        pki.chain_for("production")
    )


def test_several_certificates_in_one_file(tenant_a, pki, shared_key, request_keys, trust_anchors):
    """ANS may give SIGN and AUTH_CLI together (DMP): both imported, chain certificates skipped."""
    officine = tenant_a.officine
    sign = issue(pki, officine, request_keys[0], profile="ORG_SIGN", common_name="DMP")
    auth = issue(pki, officine, request_keys[1], profile="ORG_AUTH_CLI", common_name="DMP")
    data = to_pem_bundle(sign, auth, *pki.chain_for("production"))
    report = certificate_import(editor=tenant_a.editor, data=data, filename="dmp.pem")
    assert [r.result for r in report.results] == ["imported", "imported"]
    assert {c.profile for c in report.certificates} == {"ORG_SIGN", "ORG_AUTH_CLI"}
    assert Certificate.objects.of_editor(tenant_a.editor.pk).count() == 2


# --------------------------------------------------------------------------- supersede


def test_newer_certificate_supersedes_the_old_one(tenant_a, pki, shared_key, trust_anchors):
    officine = tenant_a.officine
    now = datetime.now(UTC)
    old = issue(pki, officine, shared_key, not_before=now - timedelta(days=1000))
    new = issue(pki, officine, shared_key, not_before=now - timedelta(days=1))
    old_row = only(
        certificate_import(editor=tenant_a.editor, data=encode("pem", old, []))
    ).certificate

    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", new, [])))

    old_row.refresh_from_db()
    assert result.certificate.replaces == old_row
    assert old_row.superseded_at is not None and old_row.status == "superseded"
    assert result.certificate.superseded_at is None and result.certificate.status == "valid"
    assert old_row.serial in result.reason


def test_older_certificate_imported_after_a_newer_one_is_superseded_at_once(
    tenant_a, pki, shared_key, trust_anchors
):
    """Onboarding a folder in any order ends in the same state."""
    officine = tenant_a.officine
    now = datetime.now(UTC)
    old = issue(pki, officine, shared_key, not_before=now - timedelta(days=1000))
    new = issue(pki, officine, shared_key, not_before=now - timedelta(days=1))
    new_row = only(
        certificate_import(editor=tenant_a.editor, data=encode("pem", new, []))
    ).certificate
    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", old, [])))
    new_row.refresh_from_db()
    assert result.certificate.status == "superseded"
    assert new_row.replaces == result.certificate and new_row.status == "valid"


def test_other_common_name_or_profile_does_not_supersede(tenant_a, pki, shared_key, trust_anchors):
    officine = tenant_a.officine
    now = datetime.now(UTC)
    old = issue(pki, officine, shared_key, not_before=now - timedelta(days=900))
    other_cn = issue(pki, officine, shared_key, common_name="INSI-AUTO")
    other_profile = issue(pki, officine, shared_key, profile="ORG_SIGN")
    old_row = only(
        certificate_import(editor=tenant_a.editor, data=encode("pem", old, []))
    ).certificate
    for cert in (other_cn, other_profile):
        result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", cert, [])))
        assert result.certificate.replaces is None
    old_row.refresh_from_db()
    assert old_row.superseded_at is None


def test_revoked_certificate_is_not_superseded(tenant_a, pki, shared_key, trust_anchors):
    now = datetime.now(UTC)
    old = issue(pki, tenant_a.officine, shared_key, not_before=now - timedelta(days=900))
    old_row = only(
        certificate_import(editor=tenant_a.editor, data=encode("pem", old, []))
    ).certificate
    Certificate.objects.filter(pk=old_row.pk).update(revoked_at=now, revocation_reason="other")
    coverage_refresh([old_row.officine_id])
    new = issue(pki, tenant_a.officine, shared_key)
    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", new, [])))
    assert result.certificate.replaces is None
    old_row.refresh_from_db()
    assert old_row.superseded_at is None and old_row.status == "revoked"


# --------------------------------------------------------------------------- requests


def test_pending_request_with_the_same_key_becomes_issued(
    tenant_a, pki, request_keys, trust_anchors
):
    officine = tenant_a.officine
    key = request_keys[0]
    request = make_request(officine, key, services=["PSC", "MSSANTE"], status="submitted")
    cert = issue(pki, officine, key)

    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem_chain", cert, [])))

    request.refresh_from_db()
    assert result.result == "imported", result.reason
    assert request.status == RequestStatus.ISSUED and request.issued_at is not None
    assert result.certificate.request == request
    assert sorted(result.certificate.services) == ["MSSANTE", "PSC"]


def test_upload_for_a_given_request(tenant_a, pki, request_keys, trust_anchors):
    key = request_keys[1]
    request = make_request(tenant_a.officine, key)
    cert = issue(pki, tenant_a.officine, key)
    result = only(
        certificate_import(editor=tenant_a.editor, data=encode("pem", cert, []), request=request)
    )
    assert result.result == "imported", result.reason
    request.refresh_from_db()
    assert request.status == "issued" and result.certificate.request_id == request.pk


def test_request_renews_is_preferred(tenant_a, pki, shared_key, request_keys, trust_anchors):
    """Two live certificates with the same CN: the one the request renews is superseded."""
    officine = tenant_a.officine
    now = datetime.now(UTC)
    first = issue(pki, officine, shared_key, not_before=now - timedelta(days=1000))
    second = issue(pki, officine, shared_key, not_before=now - timedelta(days=900))
    rows = []
    for cert in (first, second):
        # Imported with another CN so neither supersedes the other, then renamed back.
        rows.append(
            only(
                certificate_import(editor=tenant_a.editor, data=encode("pem", cert, []))
            ).certificate
        )
    Certificate.objects.filter(pk__in=[r.pk for r in rows]).update(
        superseded_at=None, replaces=None
    )
    coverage_refresh([officine.pk])
    request = make_request(officine, request_keys[2], renews=rows[0])
    new = issue(pki, officine, request_keys[2])

    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", new, [])))

    assert result.certificate.replaces_id == rows[0].pk
    for row in rows:
        row.refresh_from_db()
    assert rows[0].superseded_at is not None and rows[1].superseded_at is None
    request.refresh_from_db()
    assert request.status == "issued"


def test_certificate_without_request_is_importable(tenant_a, pki, shared_key, trust_anchors):
    cert = issue(pki, tenant_a.officine, shared_key, common_name="Serveur LGO")
    result = only(
        certificate_import(editor=tenant_a.editor, data=encode("pem", cert, []), services=["ROR"])
    )
    assert result.result == "imported"
    assert result.certificate.request is None and result.certificate.services == ["ROR"]


def test_request_of_another_editor_is_never_linked(
    tenant_a, tenant_b, pki, request_keys, trust_anchors
):
    key = request_keys[0]
    foreign = make_request(tenant_b.officine, key)
    cert = issue(pki, tenant_a.officine, key)
    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", cert, [])))
    assert result.result == "imported" and result.certificate.request is None
    foreign.refresh_from_db()
    assert foreign.status == "csr_ready"


# --------------------------------------------------------------------------- bad input


def _other_profile_certificate(pki: DemoPKI, officine, key):
    """Issued by the production ORGANISATIONS CA but for code signing: no ORG profile."""
    subject = igc.build_subject(
        department="Rhône (69)",
        raison_sociale=officine.raison_sociale,
        finess=officine.finess,
        common_name="LGO",
    )
    now = datetime.now(UTC)
    builder = (
        cx509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(pki.organisations.name)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(cx509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    )
    return builder.sign(pki.organisations.key, hashes.SHA256())


def _bad_input(case: str, tenant_a, tenant_b, pki, shared_key, request_keys) -> dict:
    """kwargs of certificate_import for one bad input, and the code it must produce."""
    officine = tenant_a.officine
    good = issue(pki, officine, shared_key)
    chain = pki.chain_for("production")
    if case == "truncated_pem":
        data = to_pem_bundle(good)
        return {"data": data[: len(data) // 2], "code": "corrupt"}
    if case == "truncated_der":
        data = encode("der", good, [])
        return {"data": data[:-40], "code": "corrupt"}
    if case == "key_mismatch":
        request = make_request(officine, request_keys[0])
        return {"data": to_pem_bundle(good), "request": request, "code": "key_mismatch"}
    if case == "other_ca_with_chain":
        cert = issue(pki, officine, shared_key, ca="other")
        return {"data": to_pem_bundle(cert, *pki.chain_for(ca="other")), "code": "untrusted_chain"}
    if case == "other_ca_alone":
        cert = issue(pki, officine, shared_key, ca="other")
        return {"data": to_pem_bundle(cert), "code": "untrusted_chain"}
    if case == "personnes":
        cert = issue(pki, officine, shared_key, ca="personnes")
        data = to_pem_bundle(cert, *pki.chain_for(ca="personnes"))
        return {"data": data, "code": "not_organisation"}
    if case == "wrong_passphrase":
        data = encode("p12", good, chain, key=shared_key)
        return {"data": data, "password": b"wrong passphrase", "code": "bad_passphrase"}
    if case == "missing_passphrase":
        data = encode("p12", good, chain, key=shared_key)
        return {"data": data, "code": "bad_passphrase"}
    if case == "too_large":
        data = to_pem_bundle(good) + b"\n" * (20 * 1024 * 1024)
        return {"data": data, "code": "too_large"}
    if case == "random_bytes":
        return {"data": os.urandom(4096), "code": "corrupt"}
    if case == "empty":
        return {"data": b"  \n", "code": "empty"}
    if case == "csr":
        subject = igc.build_subject(
            department="Rhône (69)", raison_sociale="X", finess=officine.finess, common_name="LGO"
        )
        return {
            "data": igc.build_csr(private_key=shared_key, subject=subject),
            "code": "not_a_certificate",
        }
    if case == "ca_certificate":
        return {"data": to_pem_bundle(pki.organisations.certificate), "code": "ca_certificate"}
    if case == "finess_of_other_editor":
        cert = issue(pki, tenant_b.officine, shared_key)
        return {"data": to_pem_bundle(cert, *chain), "code": "unknown_officine"}
    if case == "unknown_finess":
        stranger = Officine(finess="760021832", raison_sociale="INCONNUE", department="76")
        return {"data": to_pem_bundle(issue(pki, stranger, shared_key)), "code": "unknown_officine"}
    if case == "unknown_profile":
        cert = _other_profile_certificate(pki, officine, shared_key)
        return {"data": to_pem_bundle(cert), "code": "unknown_profile"}
    if case == "one_bad_in_file":
        cert = issue(pki, tenant_b.officine, shared_key)
        return {"data": to_pem_bundle(good, cert, *chain), "code": "unknown_officine"}
    if case == "closed_request":
        request = make_request(officine, shared_key, status=RequestStatus.CANCELLED)
        return {"data": to_pem_bundle(good), "request": request, "code": "request_closed"}
    if case == "pending_request":
        request = make_request(officine, shared_key, status=RequestStatus.PENDING)
        return {"data": to_pem_bundle(good), "request": request, "code": "request_not_ready"}
    if case == "officine_mismatch":
        # The key was made for another officine's request: the wrong structure was chosen at ANS.
        other = OfficineFactory(editor=tenant_a.editor)
        make_request(other, request_keys[1])
        cert = issue(pki, officine, request_keys[1])
        return {"data": to_pem_bundle(cert), "code": "officine_mismatch"}
    raise ValueError(case)


BAD_INPUTS = [
    "truncated_pem",
    "truncated_der",
    "key_mismatch",
    "other_ca_with_chain",
    "other_ca_alone",
    "personnes",
    "wrong_passphrase",
    "missing_passphrase",
    "too_large",
    "random_bytes",
    "empty",
    "csr",
    "ca_certificate",
    "finess_of_other_editor",
    "unknown_finess",
    "unknown_profile",
    "one_bad_in_file",
    "closed_request",
    "pending_request",
    "officine_mismatch",
]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_refused_and_changes_nothing(
    case, tenant_a, tenant_b, pki, shared_key, request_keys, trust_anchors, make_certificate
):
    # Some existing state an import could wrongly touch: a live certificate to supersede.
    existing = make_certificate(
        tenant_a.officine,
        common_name="LGO",
        services=[],
        not_after=datetime.now(UTC) + timedelta(days=30),
    )
    kwargs = _bad_input(case, tenant_a, tenant_b, pki, shared_key, request_keys)
    code = kwargs.pop("code")
    before = snapshot()
    events_before = AuditEvent.objects.filter(outcome="success").count()

    report = certificate_import(editor=tenant_a.editor, filename=f"{case}.bin", **kwargs)

    assert not report.ok and report.imported == []
    codes = [r.code for r in report.rejected]
    assert code in codes, [(r.code, r.reason) for r in report.results]
    for result in report.rejected:
        assert result.reason and result.certificate is None
        assert tenant_b.editor.name not in result.reason
    assert snapshot() == before
    assert AuditEvent.objects.filter(outcome="success").count() == events_before
    failure = AuditEvent.objects.get(action="certificate.import", outcome="failure")
    assert code in failure.reason and failure.editor_id == tenant_a.editor.pk
    existing.refresh_from_db()
    assert existing.superseded_at is None


def test_one_bad_certificate_rejects_the_whole_file(
    tenant_a, tenant_b, pki, shared_key, trust_anchors
):
    good = issue(pki, tenant_a.officine, shared_key)
    foreign = issue(pki, tenant_b.officine, shared_key)
    report = certificate_import(editor=tenant_a.editor, data=to_pem_bundle(good, foreign))
    assert [(r.result, r.code) for r in report.results] == [
        ("rejected", "file_rejected"),
        ("rejected", "unknown_officine"),
    ]
    assert Certificate.objects.count() == 0


def test_finess_of_another_editor_reads_like_an_unknown_one(
    tenant_a, tenant_b, pki, shared_key, trust_anchors
):
    """No oracle: the answer for B's FINESS is word for word the one for a FINESS nobody has."""
    foreign = issue(pki, tenant_b.officine, shared_key)
    stranger = Officine(finess="760021832", raison_sociale="INCONNUE", department="76")
    unknown = issue(pki, stranger, shared_key)
    a = only(certificate_import(editor=tenant_a.editor, data=to_pem_bundle(foreign)))
    b = only(certificate_import(editor=tenant_a.editor, data=to_pem_bundle(unknown)))
    assert (a.code, b.code) == ("unknown_officine", "unknown_officine")
    assert a.reason.replace(tenant_b.officine.finess, "X") == b.reason.replace("760021832", "X")


def test_duplicate_is_reported_and_changes_nothing(tenant_a, pki, shared_key, trust_anchors):
    cert = issue(pki, tenant_a.officine, shared_key)
    first = only(certificate_import(editor=tenant_a.editor, data=encode("pem", cert, [])))
    before = snapshot()
    events = AuditEvent.objects.count()

    again = only(certificate_import(editor=tenant_a.editor, data=encode("der", cert, [])))

    assert (again.result, again.code) == ("duplicate", "duplicate")
    assert again.certificate == first.certificate
    assert snapshot() == before and AuditEvent.objects.count() == events
    assert ImportReport([again]).ok


def test_two_editors_may_hold_the_same_certificate_without_seeing_each_other(
    tenant_a, tenant_b, pki, shared_key, trust_anchors
):
    """A pharmacy changing LGO: both vendors import its certificate (issue 12, finding 8).

    The fingerprint used to be unique across editors: the second import was refused, which
    told it the certificate existed elsewhere.
    """
    shared = OfficineFactory(editor=tenant_b.editor, finess=tenant_a.officine.finess)
    cert = issue(pki, shared, shared_key)
    of_b = only(certificate_import(editor=tenant_b.editor, data=encode("pem", cert, [])))
    b_rows = list(Certificate.objects.of_editor(tenant_b.editor.pk).values())

    result = only(certificate_import(editor=tenant_a.editor, data=encode("pem", cert, [])))

    assert (result.result, result.code) == ("imported", "imported")
    assert result.certificate.editor_id == tenant_a.editor.pk
    assert result.certificate.officine_id == tenant_a.officine.pk
    assert result.certificate.fingerprint_sha256 == of_b.certificate.fingerprint_sha256
    assert list(Certificate.objects.of_editor(tenant_b.editor.pk).values()) == b_rows
    again = only(certificate_import(editor=tenant_a.editor, data=encode("pem", cert, [])))
    assert (again.result, again.code) == ("duplicate", "duplicate")
    assert tenant_b.editor.name not in again.reason
    with pytest.raises(IntegrityError), transaction.atomic():  # the database says it too
        Certificate.objects.create(
            **{
                **{
                    f.attname: getattr(result.certificate, f.attname)
                    for f in Certificate._meta.concrete_fields
                    if f.attname not in ("id", "request_id")
                },
            }
        )


def test_untrusted_chain_allowed_for_staff_tooling(tenant_a, pki, shared_key, trust_anchors):
    cert = issue(pki, tenant_a.officine, shared_key, ca="other")
    data = to_pem_bundle(cert, *pki.chain_for(ca="other"))
    result = only(certificate_import(editor=tenant_a.editor, data=data, allow_untrusted=True))
    assert result.result == "imported"
    assert result.certificate.chain_status == "untrusted"
    assert any("not trusted" in w for w in result.warnings)


def test_incomplete_igc_chain_is_imported_with_a_warning(
    tenant_a, pki, shared_key, tmp_path, settings
):
    """Only the roots are installed: the ORGANISATIONS CA file is missing from the directory."""
    directory = tmp_path / "roots-only"
    directory.mkdir()
    (directory / "root.pem").write_bytes(to_pem_bundle(pki.root.certificate))
    settings.TRUST_ANCHORS_DIR = directory
    cert = issue(pki, tenant_a.officine, shared_key)
    result = only(certificate_import(editor=tenant_a.editor, data=to_pem_bundle(cert)))
    assert result.result == "imported", result.reason
    assert result.certificate.chain_status == "incomplete"
    assert any("Incomplete chain" in w for w in result.warnings)
    # With its chain in the file, the same certificate is fully trusted.
    other = issue(pki, tenant_a.officine, shared_key, common_name="Autre")
    data = to_pem_bundle(other, pki.organisations.certificate)
    assert only(certificate_import(editor=tenant_a.editor, data=data)).certificate.chain_status == (
        "trusted_production"
    )


def test_expired_certificate_is_imported_with_a_warning(tenant_a, pki, shared_key, trust_anchors):
    now = datetime.now(UTC)
    cert = issue(
        pki,
        tenant_a.officine,
        shared_key,
        not_before=now - timedelta(days=1200),
        not_after=now - timedelta(days=10),
    )
    result = only(certificate_import(editor=tenant_a.editor, data=to_pem_bundle(cert)))
    assert result.result == "imported" and result.certificate.status == "expired"
    assert any("expired" in w for w in result.warnings)


# --------------------------------------------------------------------------- officines


def test_create_officines_from_the_certificate_subject(tenant_a, pki, shared_key, trust_anchors):
    newcomer = Officine(finess="2A0000014", raison_sociale="PHARMACIE DU PORT", department="2A")
    cert = issue(pki, newcomer, shared_key)
    report = certificate_import(
        editor=tenant_a.editor,
        data=to_pem_bundle(cert),
        create_officines=True,
        actor=tenant_a.admin,
    )
    result = only(report)
    assert result.result == "imported", result.reason
    created = Officine.objects.of_editor(tenant_a.editor.pk).get(finess="2A0000014")
    assert (created.raison_sociale, created.department, created.environment) == (
        "PHARMACIE DU PORT",
        "2A",
        "production",
    )
    assert result.certificate.officine == created
    assert AuditEvent.objects.filter(action="officine.create", target_id=str(created.pk)).exists()


def test_create_test_officine_from_a_test_certificate(tenant_a, pki, shared_key, trust_anchors):
    """ANS test FINESS (0B...) carry no département: it comes from the ST "Rhône (69)"."""
    newcomer = Officine(finess="0B0152872", raison_sociale="CENTRE DE SANTE X", department="69")
    cert = issue(pki, newcomer, shared_key, environment="test")
    result = only(
        certificate_import(editor=tenant_a.editor, data=to_pem_bundle(cert), create_officines=True)
    )
    assert result.result == "imported", result.reason
    created = result.certificate.officine
    assert (created.finess, created.department, created.environment) == ("0B0152872", "69", "test")


def test_create_officines_never_touches_another_editor(
    tenant_a, tenant_b, pki, shared_key, trust_anchors
):
    """B's FINESS imported by A with creation on: a new officine in A, B unchanged."""
    cert = issue(pki, tenant_b.officine, shared_key)
    result = only(
        certificate_import(editor=tenant_a.editor, data=to_pem_bundle(cert), create_officines=True)
    )
    assert result.result == "imported"
    assert result.certificate.officine.editor_id == tenant_a.editor.pk
    assert result.certificate.officine_id != tenant_b.officine.pk
    assert Certificate.objects.of_editor(tenant_b.editor.pk).count() == 0


def test_two_certificates_of_a_new_officine_create_it_once(
    tenant_a, pki, request_keys, trust_anchors
):
    newcomer = Officine(finess="760021832", raison_sociale="PHARMACIE NEUVE", department="76")
    sign = issue(pki, newcomer, request_keys[0], profile="ORG_SIGN")
    auth = issue(pki, newcomer, request_keys[1])
    report = certificate_import(
        editor=tenant_a.editor, data=to_pem_bundle(sign, auth), create_officines=True
    )
    assert [r.result for r in report.results] == ["imported", "imported"]
    assert Officine.objects.of_editor(tenant_a.editor.pk).filter(finess="760021832").count() == 1


def test_officine_that_cannot_be_created_is_a_clear_error(tenant_a, pki, shared_key, trust_anchors):
    # A test FINESS in a production certificate: the officine rules refuse it.
    newcomer = Officine(finess="0B0152872", raison_sociale="CENTRE", department="69")
    cert = issue(pki, newcomer, shared_key)
    before = snapshot()
    result = only(
        certificate_import(editor=tenant_a.editor, data=to_pem_bundle(cert), create_officines=True)
    )
    assert (result.result, result.code) == ("rejected", "invalid_officine")
    assert snapshot() == before


# --------------------------------------------------------------------------- cost


def test_import_query_budget(
    tenant_a, pki, request_keys, trust_anchors, django_assert_max_num_queries
):
    """A file costs a handful of queries, whatever the number of officines of the editor."""
    OfficineFactory.create_batch(20, editor=tenant_a.editor)
    key = request_keys[0]
    make_request(tenant_a.officine, key)
    now = datetime.now(UTC)
    old = issue(pki, tenant_a.officine, key, not_before=now - timedelta(days=900))
    Certificate.objects.create(
        editor=tenant_a.editor,
        officine=tenant_a.officine,
        profile="ORG_AUTH_CLI",
        common_name="LGO",
        serial="01",
        subject_dn="x",
        issuer_dn="y",
        not_before=old.not_valid_before_utc,
        not_after=old.not_valid_after_utc,
        fingerprint_sha256="0" * 64,
        public_key_sha256="0" * 64,
        chain_status="trusted_production",
        pem="",
    )
    new = issue(pki, tenant_a.officine, key)
    # fingerprints, requests, officines, live certificates, savepoint, insert, supersede,
    # request_mark_issued (lock, update, link, audit), audit, webhook listeners, release,
    # the officine's stored coverage (lock, aggregate, upsert).
    with django_assert_max_num_queries(17):
        result = only(certificate_import(editor=tenant_a.editor, data=to_pem_bundle(new)))
    assert result.result == "imported" and result.certificate.replaces is not None


def test_bulk_import_loads_officines_once(
    tenant_a, pki, shared_key, trust_anchors, django_assert_max_num_queries
):
    officines = OfficineFactory.create_batch(5, editor=tenant_a.editor)
    files = [(f"{o.finess}.pem", to_pem_bundle(issue(pki, o, shared_key))) for o in officines]
    # Officine map once; fingerprints, requests, live certificates per batch; per file:
    # savepoint, insert, audit, release.
    with django_assert_max_num_queries(4 + 4 * len(files)):
        report = certificates_import_files(editor=tenant_a.editor, files=files)
    assert [r.result for r in report.results] == ["imported"] * 5


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_bulk_import_across_batches(
    batch_size, monkeypatch, tenant_a, pki, shared_key, request_keys, trust_anchors
):
    """Same file twice, a request, a new officine used by two files: any batch boundary."""
    monkeypatch.setattr("certificates.importing.services.BATCH_SIZE", batch_size)
    officine = tenant_a.officine
    request = make_request(officine, request_keys[0])
    newcomer = Officine(finess="760021832", raison_sociale="PHARMACIE NEUVE", department="76")
    plain = to_pem_bundle(issue(pki, officine, shared_key))
    files = [
        ("1.pem", plain),
        ("2.pem", plain),
        ("3.pem", to_pem_bundle(issue(pki, officine, request_keys[0], common_name="Req"))),
        ("4.pem", to_pem_bundle(issue(pki, newcomer, shared_key))),
        ("5.pem", to_pem_bundle(issue(pki, newcomer, shared_key, profile="ORG_SIGN"))),
        ("6.bin", b"junk"),
    ]
    report = certificates_import_files(editor=tenant_a.editor, files=files, create_officines=True)
    assert [(r.file, r.result) for r in report.results] == [
        ("1.pem", "imported"),
        ("2.pem", "duplicate"),
        ("3.pem", "imported"),
        ("4.pem", "imported"),
        ("5.pem", "imported"),
        ("6.bin", "rejected"),
    ]
    assert report.results[1].certificate == report.results[0].certificate
    request.refresh_from_db()
    assert request.status == "issued" and report.results[2].certificate.request == request
    assert report.results[3].certificate.officine == report.results[4].certificate.officine
    assert Officine.objects.of_editor(tenant_a.editor.pk).filter(finess="760021832").count() == 1


@pytest.mark.parametrize("order", ["old_first", "new_first"])
def test_bulk_renewals_within_one_batch(order, tenant_a, pki, shared_key, trust_anchors):
    """Renewals inside one batch still chain: the bulk insert never skips a supersede."""
    officine = tenant_a.officine
    now = datetime.now(UTC)
    old = (
        "old.pem",
        to_pem_bundle(issue(pki, officine, shared_key, not_before=now - timedelta(days=900))),
    )
    new = ("new.pem", to_pem_bundle(issue(pki, officine, shared_key)))
    other = OfficineFactory(editor=tenant_a.editor)
    plain = ("plain.pem", to_pem_bundle(issue(pki, other, shared_key)))
    files = [plain, old, new] if order == "old_first" else [plain, new, old]
    report = certificates_import_files(editor=tenant_a.editor, files=files)
    assert [r.result for r in report.results] == ["imported"] * 3
    rows = {r.file: Certificate.objects.get(pk=r.certificate.pk) for r in report.results}
    assert rows["old.pem"].status == "superseded" and rows["new.pem"].status == "valid"
    assert rows["new.pem"].replaces == rows["old.pem"]
    assert rows["plain.pem"].replaces is None and rows["plain.pem"].status == "valid"


def test_bulk_insert_conflict_falls_back_to_file_by_file(
    monkeypatch, tenant_a, pki, shared_key, trust_anchors
):
    """A concurrent import registered one file between look-up and insert: only it is refused."""
    import certificates.importing.services as imports

    officines = OfficineFactory.create_batch(3, editor=tenant_a.editor)
    files = [(f"{o.finess}.pem", to_pem_bundle(issue(pki, o, shared_key))) for o in officines]
    raced = certificate_import(editor=tenant_a.editor, data=files[1][1]).results[0].certificate
    real_lookups = imports._lookups

    def lookups_before_the_race(*args, **kwargs):
        found = real_lookups(*args, **kwargs)
        found.registered.clear()  # as if the other import committed just after this query
        return found

    monkeypatch.setattr(imports, "_lookups", lookups_before_the_race)
    report = certificates_import_files(editor=tenant_a.editor, files=files)

    assert [(r.result, r.code) for r in report.results] == [
        ("imported", "imported"),
        ("rejected", "already_registered"),
        ("imported", "imported"),
    ]
    assert Certificate.objects.of_editor(tenant_a.editor.pk).count() == 3
    assert Certificate.objects.filter(fingerprint_sha256=raced.fingerprint_sha256).count() == 1


# --------------------------------------------------------------------------- small parts


def test_representation(tenant_a, pki, shared_key, trust_anchors):
    cert = issue(pki, tenant_a.officine, shared_key, common_name="INSI-MANU")
    result = only(
        certificate_import(editor=tenant_a.editor, data=to_pem_bundle(cert), filename="a.pem")
    )
    data = certificate_dict(result.certificate)
    assert set(data) == {
        "id",
        "officine",
        "finess",
        "usable_until",
        "installed",
        "profile",
        "common_name",
        "serial",
        "not_before",
        "not_after",
        "fingerprint_sha256",
        "environment",
        "chain_status",
        "status",
        "services",
    }
    assert data["finess"] == tenant_a.officine.finess and data["services"] == ["INSI"]
    assert data["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert datetime.fromisoformat(data["not_before"]) == cert.not_valid_before_utc
    assert data["status"] == "valid" and data["chain_status"] == "trusted_production"
    line = import_result_dict(result)
    assert (line["file"], line["result"], line["certificate"]) == ("a.pem", "imported", data)
    refused = import_result_dict(
        only(certificate_import(editor=tenant_a.editor, data=b"junk", filename="b.bin"))
    )
    assert refused["certificate"] is None and refused["result"] == "rejected" and refused["reason"]


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("Rhône (69)", "69"),
        ("Corse-du-Sud (2A)", "2A"),
        ("Guadeloupe (971)", "971"),
        ("Rhône", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_department_from_state(state, code):
    assert department_from_state(state) == code


def test_infer_services():
    assert infer_services("ORG_AUTH_CLI", "INSI-AUTO") == ["INSI"]
    assert infer_services("ORG_AUTH_CLI", "insi-auto") == []
    assert infer_services("ORG_SIGN", "DMP") == ["DMP"]
    assert infer_services("ORG_CONF", "INSI-MANU") == []


def test_trust_store_is_cached_per_directory_and_contents(pki, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    pki.write_trust_anchors(first)
    pki.write_trust_anchors(second, include_test=False)
    store = trust.trust_store(first)
    assert trust.trust_store(first) is store
    assert len(trust.trust_store(second).roots) == 1 and len(store.roots) == 2
    (first / "igc-sante-test-racine.pem").unlink()
    fresh = trust.trust_store(first)
    assert fresh is not store and len(fresh.roots) == 1
    assert trust.trust_store(tmp_path / "missing").roots == []


def test_broken_trust_anchor_refuses_imports(tenant_a, pki, shared_key, tmp_path, settings):
    directory = tmp_path / "broken"
    pki.write_trust_anchors(directory)
    (directory / "broken.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA")
    settings.TRUST_ANCHORS_DIR = directory
    cert = issue(pki, tenant_a.officine, shared_key)
    result = only(certificate_import(editor=tenant_a.editor, data=to_pem_bundle(cert)))
    assert (result.result, result.code) == ("rejected", "trust_store")
    assert Certificate.objects.count() == 0


def test_import_announces_certificate_issued_to_listening_webhooks(
    tenant_a, tenant_b, pki, shared_key, trust_anchors
):
    from notifications.models import WebhookDelivery, WebhookEndpoint

    listening = WebhookEndpoint.objects.create(
        editor=tenant_a.editor,
        url="https://lgo.example/hooks",
        events=["certificate.issued"],
    )
    WebhookEndpoint.objects.create(  # another editor's endpoint hears nothing of A
        editor=tenant_b.editor,
        url="https://other.example/hooks",
        events=["certificate.issued"],
    )
    cert = issue(pki, tenant_a.officine, shared_key)
    stored = only(
        certificate_import(
            editor=tenant_a.editor, data=to_pem_bundle(cert), actor=tenant_a.operator
        )
    ).certificate
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event) == (listening, "certificate.issued")
    assert delivery.certificate_id == stored.pk
