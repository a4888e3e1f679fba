"""Exports for installation: PEM/DER/chains and PKCS#12, cross-checked with openssl and keytool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from certificates import exports, keystore
from certificates import x509 as igc
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from portal.models import AuditEvent
from tests.factories import OfficineFactory
from tests.helpers.certificates import certificate_row
from tests.helpers.tools import KEYTOOL, OPENSSL, requires_keytool, requires_openssl

PASSPHRASE = "Une phrase de passe solide!"


def make_request(officine, *, key=None, key_mode=KeyMode.SERVER, common_name="LGO"):
    """An issued request; in server mode its private key is really encrypted by the keystore."""
    request = CertificateRequest.objects.create(
        editor_id=officine.editor_id,
        officine=officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name=common_name,
        key_mode=key_mode,
        requester_email="acteur@lgo.example",
        status=RequestStatus.ISSUED,
        public_key_sha256=igc.public_key_sha256(key.public_key()) if key else "",
    )
    if key_mode == KeyMode.SERVER:
        keystore.encrypt_private_key(private_key=key, request=request)
        request.save()
    return request


@pytest.fixture
def server_certificate(tenant_a, pki, shared_key):
    """A certificate whose key the portal generated and holds (encrypted)."""
    officine = OfficineFactory(editor=tenant_a.editor, finess="760021832", department="76")
    request = make_request(officine, key=shared_key, common_name="INSI-AUTO")
    return certificate_row(
        pki,
        shared_key,
        officine,
        common_name="INSI-AUTO",
        services=("INSI",),
        request=request,
    )


def pem_blocks(text: str, label: str) -> list[str]:
    return re.findall(rf"-----BEGIN {label}-----.*?-----END {label}-----", text, re.DOTALL)


# --------------------------------------------------------------------------- names


def test_export_filename_uses_finess_profile_and_cn(server_certificate):
    assert (
        exports.export_filename(server_certificate, "pem") == "760021832_ORG_AUTH_CLI_INSI-AUTO.pem"
    )
    assert (
        exports.export_filename(server_certificate, "der") == "760021832_ORG_AUTH_CLI_INSI-AUTO.cer"
    )
    assert (
        exports.export_filename(server_certificate, "p12") == "760021832_ORG_AUTH_CLI_INSI-AUTO.p12"
    )
    assert (
        exports.export_filename(server_certificate, "fullchain")
        == "760021832_ORG_AUTH_CLI_INSI-AUTO_fullchain.pem"
    )


@pytest.mark.parametrize(
    ("common_name", "expected"),
    [
        ("SAMU 75", "SAMU-75"),
        ("Proxy DMP / CHU Nantes", "Proxy-DMP-CHU-Nantes"),
        ("Pharmacie de l'Église", "Pharmacie-de-l-Eglise"),
        ("../../etc/passwd", "etc-passwd"),
        ("***", "certificat"),
    ],
)
def test_filename_part_is_safe(common_name, expected):
    assert exports.safe_filename_part(common_name) == expected
    assert re.fullmatch(r"[A-Za-z0-9._-]+", exports.safe_filename_part(common_name))


# --------------------------------------------------------------------------- public exports


@requires_openssl
def test_public_exports_are_the_certificate_and_its_chain(server_certificate, pki, tmp_path):
    leaf = cx509.load_pem_x509_certificate(server_certificate.pem.encode())
    intermediate, root = pki.chain_for("production")

    pem = exports.certificate_pem(server_certificate)
    assert cx509.load_pem_x509_certificate(pem) == leaf

    der = exports.certificate_der(server_certificate)
    assert cx509.load_der_x509_certificate(der) == leaf
    (tmp_path / "leaf.cer").write_bytes(der)
    out = subprocess.run(
        [OPENSSL, "x509", "-inform", "DER", "-in", tmp_path / "leaf.cer", "-noout", "-subject"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "INSI-AUTO" in out and "OU=1760021832" in out.replace(" ", "")

    assert cx509.load_pem_x509_certificates(exports.chain_pem(server_certificate)) == [
        intermediate,
        root,
    ]
    assert cx509.load_pem_x509_certificates(exports.fullchain_pem(server_certificate)) == [
        leaf,
        intermediate,
    ]
    # openssl verifies the leaf with the full chain against the root alone.
    (tmp_path / "fullchain.pem").write_bytes(exports.fullchain_pem(server_certificate))
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(pem)
    verify = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-CAfile",
            tmp_path / "root.pem",
            "-untrusted",
            tmp_path / "fullchain.pem",
            tmp_path / "leaf.pem",
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr


@pytest.mark.parametrize("kind", ["pem", "der", "chain", "fullchain"])
def test_every_public_export_is_audited_and_holds_no_private_key(
    server_certificate, tenant_a, kind
):
    export = exports.certificate_export(
        certificate=server_certificate, kind=kind, actor=tenant_a.viewer
    )
    assert b"PRIVATE KEY" not in export.content
    assert export.filename.startswith("760021832_ORG_AUTH_CLI_INSI-AUTO")
    event = AuditEvent.objects.get(action="certificate.download")
    assert event.details == {"format": kind}
    assert event.target_id == str(server_certificate.pk)
    assert event.actor == tenant_a.viewer
    assert event.editor_id == tenant_a.editor.pk
    assert not AuditEvent.objects.filter(action="key.decrypt").exists()


def test_unknown_format_and_missing_chain_are_clear_errors(server_certificate):
    with pytest.raises(ValidationError):
        exports.certificate_export(certificate=server_certificate, kind="key", actor=None)
    server_certificate.chain_pem = ""
    with translation.override("en"), pytest.raises(ValidationError, match="No certification chain"):
        exports.certificate_export(certificate=server_certificate, kind="chain", actor=None)
    assert not AuditEvent.objects.filter(action="certificate.download").exists()


# --------------------------------------------------------------------------- PKCS#12


def openssl_pkcs12_info(path: Path, passphrase: str, *, legacy: bool) -> str:
    """`openssl pkcs12 -info -nodes`; old algorithms may need -legacy on OpenSSL 3."""
    base = [OPENSSL, "pkcs12", "-info", "-nodes", "-in", str(path), "-passin", f"pass:{passphrase}"]
    result = subprocess.run(base, capture_output=True, text=True)
    if result.returncode != 0 and legacy:
        result = subprocess.run([*base, "-legacy"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@requires_openssl
@pytest.mark.parametrize(
    ("profile", "algorithm"),
    [("modern", "AES-256-CBC"), ("legacy", "pbeWithSHA1And3-KeyTripleDES-CBC")],
)
def test_pkcs12_opens_with_openssl_and_key_matches(
    server_certificate, tenant_a, pki, tmp_path, profile, algorithm
):
    data = exports.certificate_export_pkcs12(
        certificate=server_certificate,
        passphrase=PASSPHRASE,
        profile=profile,
        actor=tenant_a.operator,
    )
    path = tmp_path / f"{profile}.p12"
    path.write_bytes(data)
    info = openssl_pkcs12_info(path, PASSPHRASE, legacy=profile == "legacy")
    assert algorithm in info
    if profile == "modern":
        assert "PBKDF2" in info and "sha256" in info.lower()
    else:
        assert "MAC: sha1" in info

    keys = pem_blocks(info, "PRIVATE KEY")
    certs = [cx509.load_pem_x509_certificate(b.encode()) for b in pem_blocks(info, "CERTIFICATE")]
    assert len(keys) == 1
    key = serialization.load_pem_private_key(keys[0].encode(), password=None)
    leaf = cx509.load_pem_x509_certificate(server_certificate.pem.encode())
    assert leaf in certs and set(pki.chain_for("production")) <= set(certs)
    assert igc.key_matches_certificate(key, leaf)

    # A wrong passphrase does not open it.
    wrong = subprocess.run(
        [OPENSSL, "pkcs12", "-info", "-nodes", "-in", path, "-passin", "pass:wrong-passphrase!"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0


@requires_keytool
@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_pkcs12_opens_with_java_keytool(server_certificate, tenant_a, tmp_path, profile):
    path = tmp_path / f"{profile}.p12"
    path.write_bytes(
        exports.certificate_export_pkcs12(
            certificate=server_certificate,
            passphrase=PASSPHRASE,
            profile=profile,
            actor=tenant_a.admin,
        )
    )
    result = subprocess.run(
        [
            shutil.which("keytool") or KEYTOOL,
            "-list",
            "-v",
            "-storetype",
            "PKCS12",
            "-keystore",
            str(path),
            "-storepass",
            PASSPHRASE,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PrivateKeyEntry" in result.stdout
    assert "Certificate chain length: 3" in result.stdout
    assert "CN=INSI-AUTO" in result.stdout


def test_pkcs12_export_writes_decrypt_and_export_audit_rows(server_certificate, tenant_a):
    exports.certificate_export_pkcs12(
        certificate=server_certificate,
        passphrase=PASSPHRASE,
        profile="legacy",
        actor=tenant_a.operator,
        reason="installation poste 3",
    )
    decrypt = AuditEvent.objects.get(action="key.decrypt")
    assert decrypt.actor == tenant_a.operator
    assert decrypt.reason == "installation poste 3"
    assert decrypt.target_id == str(server_certificate.request_id)
    export = AuditEvent.objects.get(action="certificate.export_pkcs12")
    assert export.details == {"profile": "legacy"}
    assert export.target_id == str(server_certificate.pk)
    assert export.editor_id == tenant_a.editor.pk
    assert export.outcome == "success"


def test_short_passphrase_refused_before_any_decryption(server_certificate, tenant_a):
    short = "x" * (igc.PKCS12_MIN_PASSPHRASE - 1)
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        exports.certificate_export_pkcs12(
            certificate=server_certificate, passphrase=short, profile="modern", actor=tenant_a.admin
        )
    assert f"at least {igc.PKCS12_MIN_PASSPHRASE} characters" in caught.value.messages[0]
    assert not AuditEvent.objects.exists()
    # Exactly the minimum is accepted.
    exports.certificate_export_pkcs12(
        certificate=server_certificate,
        passphrase="x" * igc.PKCS12_MIN_PASSPHRASE,
        profile="modern",
        actor=tenant_a.admin,
    )


def test_non_ascii_passphrase_refused(server_certificate, tenant_a):
    """Found with keytool: Java refuses non-ASCII PKCS#12 passwords ("Password is not ASCII")."""
    with translation.override("en"), pytest.raises(ValidationError, match="unaccented"):
        exports.certificate_export_pkcs12(
            certificate=server_certificate,
            passphrase="Une phrase de passe sûre",
            profile="modern",
            actor=tenant_a.admin,
        )
    assert not AuditEvent.objects.exists()


def test_unknown_profile_refused(server_certificate, tenant_a):
    with pytest.raises(ValidationError):
        exports.certificate_export_pkcs12(
            certificate=server_certificate,
            passphrase=PASSPHRASE,
            profile="rc2",
            actor=tenant_a.admin,
        )
    assert not AuditEvent.objects.exists()


def test_csr_mode_certificate_has_no_pkcs12(tenant_a, pki, shared_key):
    request = make_request(tenant_a.officine, key=shared_key, key_mode=KeyMode.CSR)
    csr_mode = certificate_row(pki, shared_key, tenant_a.officine, request=request)
    imported = certificate_row(pki, shared_key, tenant_a.officine, common_name="IMPORTED")
    for certificate in (csr_mode, imported):
        with translation.override("en"), pytest.raises(ValidationError) as caught:
            exports.certificate_export_pkcs12(
                certificate=certificate,
                passphrase=PASSPHRASE,
                profile="modern",
                actor=tenant_a.admin,
            )
        assert "no private key held by the portal" in caught.value.messages[0].lower()
        assert "CSR mode" in caught.value.messages[0]
    assert not AuditEvent.objects.exists()


def test_revoked_certificate_has_no_pkcs12(server_certificate, tenant_a):
    server_certificate.revoked_at = timezone.now()
    server_certificate.save()
    with pytest.raises(ValidationError):
        exports.certificate_export_pkcs12(
            certificate=server_certificate,
            passphrase=PASSPHRASE,
            profile="modern",
            actor=tenant_a.admin,
        )
    assert not AuditEvent.objects.filter(action="key.decrypt").exists()


def test_viewer_and_foreign_users_cannot_export_the_key(server_certificate, tenant_a, tenant_b):
    for user in (tenant_a.viewer, tenant_b.admin, tenant_a.pharmacist):
        with pytest.raises(PermissionDenied):
            exports.certificate_export_pkcs12(
                certificate=server_certificate,
                passphrase=PASSPHRASE,
                profile="modern",
                actor=user,
            )
    assert not AuditEvent.objects.exists()


def test_tampered_key_is_a_clear_error_and_the_failed_decryption_is_audited(
    server_certificate, tenant_a
):
    request = server_certificate.request
    envelope = bytearray(request.encrypted_private_key)
    envelope[-1] ^= 1
    request.encrypted_private_key = bytes(envelope)
    request.save()
    with pytest.raises(ValidationError):
        exports.certificate_export_pkcs12(
            certificate=server_certificate,
            passphrase=PASSPHRASE,
            profile="modern",
            actor=tenant_a.admin,
        )
    failed = AuditEvent.objects.get(action="key.decrypt")
    assert failed.outcome == "failure"
    assert not AuditEvent.objects.filter(action="certificate.export_pkcs12").exists()


def test_api_key_of_another_editor_cannot_export_the_key(server_certificate, tenant_b):
    from portal.models import ApiKey

    with pytest.raises(PermissionDenied):
        exports.certificate_export_pkcs12(
            certificate=server_certificate,
            passphrase=PASSPHRASE,
            profile="modern",
            actor=ApiKey(editor=tenant_b.editor, name="B"),
        )
    assert not AuditEvent.objects.exists()
