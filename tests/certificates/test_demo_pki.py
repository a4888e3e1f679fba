"""The demo PKI must look like IGC Santé, or tests built on it prove nothing."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from certificates import x509 as igc
from certificates.demo_pki import (
    CRL_URL,
    CRL_URL_TEST,
    OCSP_URL,
    POLICY_PRODUCTION,
    POLICY_TEST,
    PRODUCT_CATEGORY_OID,
    DemoPKI,
    add_months,
    to_pem_bundle,
)
from certificates.x509 import ChainStatus, Profile
from tests.helpers.tools import OPENSSL, requires_openssl


@pytest.fixture(scope="module")
def pki() -> DemoPKI:
    return DemoPKI.create()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue_certificate(
    pki: DemoPKI, key: rsa.RSAPrivateKey, profile: Profile, **kwargs: object
) -> x509.Certificate:
    _, cert = pki.issue_for(
        finess="760021832",
        raison_sociale="PHARMACIE DU MARCHÉ",
        department="Rhône (69)",
        common_name="INSI-AUTO",
        profile=profile,
        key=key,
        **kwargs,  # type: ignore[arg-type]
    )
    return cert


def _ext(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


def test_ca_names_copy_igc_sante(pki: DemoPKI) -> None:
    ans = "OU=IGC-SANTE,OU=0002 187512751,O=ASIP-SANTE,C=FR"
    test = "OU=IGC-SANTE TEST,OU=0002 187512751,O=ASIP-SANTE,C=FR"
    assert pki.root.name.rfc4514_string() == f"CN=AC RACINE IGC-SANTE ELEMENTAIRE,{ans}"
    assert (
        pki.organisations.name.rfc4514_string()
        == f"CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS,{ans}"
    )
    assert pki.personnes.name.rfc4514_string() == f"CN=AC IGC-SANTE ELEMENTAIRE PERSONNES,{ans}"
    assert pki.test_root.name.rfc4514_string() == f"CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE,{test}"
    assert (
        pki.test_organisations.name.rfc4514_string()
        == f"CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS,{test}"
    )
    assert "CN=Other CA" in pki.other.name.rfc4514_string()


def test_ca_extensions_and_links(pki: DemoPKI) -> None:
    pairs = [
        (pki.root, pki.root),
        (pki.organisations, pki.root),
        (pki.personnes, pki.root),
        (pki.test_root, pki.test_root),
        (pki.test_organisations, pki.test_root),
        (pki.other_root, pki.other_root),
        (pki.other, pki.other_root),
    ]
    for ca, parent in pairs:
        cert = ca.certificate
        constraints = _ext(cert, x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca  # type: ignore[attr-defined]
        usage = _ext(cert, x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign  # type: ignore[attr-defined]
        assert not usage.value.digital_signature  # type: ignore[attr-defined]
        cert.verify_directly_issued_by(parent.certificate)
        aki = _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier  # type: ignore[attr-defined]
        assert aki == _ext(parent.certificate, x509.SubjectKeyIdentifier).value.digest  # type: ignore[attr-defined]
        assert isinstance(ca.key, rsa.RSAPrivateKey) and ca.key.key_size == 2048


@pytest.mark.parametrize("profile", list(Profile))
def test_issued_leaf_extensions(pki: DemoPKI, key: rsa.RSAPrivateKey, profile: Profile) -> None:
    cert = issue_certificate(pki, key, profile)
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca  # type: ignore[attr-defined]
    assert _ext(cert, x509.KeyUsage).critical
    assert _ext(cert, x509.KeyUsage).value == igc.key_usage_extension(profile)
    eku = list(_ext(cert, x509.ExtendedKeyUsage).value)  # type: ignore[call-overload]
    assert eku == list(igc.PROFILE_EXTENSIONS[profile].extended_key_usage)
    assert igc.detect_profile(cert) == profile
    assert igc.describe_certificate(cert).policies == (POLICY_PRODUCTION,)
    category = cert.extensions.get_extension_for_oid(PRODUCT_CATEGORY_OID).value
    assert category.value == b"\x02\x02\x00\x83"  # type: ignore[attr-defined]
    crl = _ext(cert, x509.CRLDistributionPoints).value[0].full_name[0].value  # type: ignore[index]
    assert crl == CRL_URL
    aia = _ext(cert, x509.AuthorityInformationAccess).value[0]  # type: ignore[index]
    assert aia.access_method == AuthorityInformationAccessOID.OCSP
    assert aia.access_location.value == OCSP_URL
    assert cert.issuer == pki.organisations.name
    cert.verify_directly_issued_by(pki.organisations.certificate)


def test_serv_ssl_also_allows_client_auth(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    eku = _ext(issue_certificate(pki, key, Profile.SERV_SSL), x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku and ExtendedKeyUsageOID.CLIENT_AUTH in eku  # type: ignore[operator]


def test_test_environment_leaf(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    cert = issue_certificate(pki, key, Profile.ORG_AUTH_CLI, environment="test")
    assert cert.issuer == pki.test_organisations.name
    assert igc.describe_certificate(cert).policies == (POLICY_TEST,)
    crl = _ext(cert, x509.CRLDistributionPoints).value[0].full_name[0].value  # type: ignore[index]
    assert crl == CRL_URL_TEST


def test_validity_three_years_and_sign_one_month_more(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    start = datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
    auth = issue_certificate(pki, key, Profile.ORG_AUTH_CLI, not_before=start)
    assert auth.not_valid_before_utc == start
    assert auth.not_valid_after_utc == datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
    sign = issue_certificate(pki, key, Profile.ORG_SIGN, not_before=start)
    assert sign.not_valid_after_utc == datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
    if hasattr(x509, "PrivateKeyUsagePeriod"):
        period = _ext(sign, x509.PrivateKeyUsagePeriod).value
        assert period.not_after == datetime(2028, 1, 31, 10, 0)  # type: ignore[attr-defined]
    end = start + timedelta(days=10)
    assert (
        issue_certificate(
            pki, key, Profile.ORG_CONF, not_before=start, not_after=end
        ).not_valid_after_utc
        == end
    )


def test_default_validity_starts_now(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    cert = issue_certificate(pki, key, Profile.ORG_AUTH_CLI)
    now = datetime.now(UTC)
    assert now - timedelta(minutes=10) < cert.not_valid_before_utc <= now
    assert 3 * 365 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 3 * 366


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(datetime(2025, 1, 31), 1) == datetime(2025, 2, 28)
    assert add_months(datetime(2028, 2, 29), 36) == datetime(2031, 2, 28)
    assert add_months(datetime(2025, 11, 15), 3) == datetime(2026, 2, 15)


def test_issue_from_csr_keeps_subject_and_key(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    subject = igc.build_subject(
        department="Corse-du-Sud (2A)",
        raison_sociale="PHARMACIE",
        finess="0B0152872",
        common_name="DMP",
    )
    csr = igc.build_csr(private_key=key, subject=subject)
    cert = pki.issue(csr_pem=csr, profile=Profile.ORG_SIGN)
    assert cert.subject == subject
    assert igc.key_matches_certificate(key, cert)
    assert igc.describe_certificate(cert).finess == "0B0152872"


def test_serials_are_random(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    serials = {issue_certificate(pki, key, Profile.ORG_AUTH_CLI).serial_number for _ in range(5)}
    assert len(serials) == 5


def test_issue_argument_errors(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError):
        pki.issue(profile=Profile.ORG_AUTH_CLI)
    with pytest.raises(ValueError):
        issue_certificate(pki, key, Profile.ORG_AUTH_CLI, environment="test", ca="personnes")


def test_issue_for_makes_a_key_when_none_given(pki: DemoPKI) -> None:
    new_key, cert = pki.issue_for(
        finess="760021832",
        raison_sociale="PHARMACIE",
        department="Seine-Maritime (76)",
        common_name="Proxy DMP",
        profile=Profile.ORG_AUTH_CLI,
    )
    assert igc.key_matches_certificate(new_key, cert)
    assert igc.describe_certificate(cert).subject.startswith("CN=Proxy DMP,OU=1760021832,")


def test_chain_for(pki: DemoPKI) -> None:
    assert pki.chain_for("production") == [pki.organisations.certificate, pki.root.certificate]
    assert pki.chain_for("test") == [pki.test_organisations.certificate, pki.test_root.certificate]
    assert pki.chain_for(ca="personnes") == [pki.personnes.certificate, pki.root.certificate]
    assert pki.chain_for(ca="other") == [pki.other.certificate, pki.other_root.certificate]


def test_trust_anchors_pem(pki: DemoPKI) -> None:
    everything = igc.load_bundle(pki.trust_anchors_pem()).certificates
    assert len(everything) == 5 and pki.other.certificate not in everything
    production = igc.load_bundle(pki.trust_anchors_pem(include_test=False)).certificates
    assert production == [
        pki.root.certificate,
        pki.organisations.certificate,
        pki.personnes.certificate,
    ]


def test_write_trust_anchors_feeds_a_trust_store(
    pki: DemoPKI, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    pki.write_trust_anchors(tmp_path / "anchors")
    names = sorted(p.name for p in (tmp_path / "anchors").iterdir())
    assert names == [
        "igc-sante-organisations.pem",
        "igc-sante-personnes.pem",
        "igc-sante-racine.pem",
        "igc-sante-test-organisations.pem",
        "igc-sante-test-racine.pem",
    ]
    store = igc.TrustStore.from_directory(tmp_path / "anchors")
    result = igc.validate_chain(issue_certificate(pki, key, Profile.ORG_AUTH_CLI), store=store)
    assert result.status == ChainStatus.TRUSTED_PRODUCTION


@requires_openssl
@pytest.mark.parametrize(
    ("profile", "purpose"),
    [
        (Profile.ORG_AUTH_CLI, "sslclient"),
        (Profile.SERV_SSL, "sslserver"),
        (Profile.ORG_SIGN, "smimesign"),
    ],
)
def test_openssl_verifies_the_demo_chain(
    pki: DemoPKI, key: rsa.RSAPrivateKey, tmp_path: Path, profile: Profile, purpose: str
) -> None:
    (tmp_path / "root.pem").write_bytes(to_pem_bundle(pki.root.certificate))
    (tmp_path / "int.pem").write_bytes(to_pem_bundle(pki.organisations.certificate))
    (tmp_path / "leaf.pem").write_bytes(to_pem_bundle(issue_certificate(pki, key, profile)))
    result = subprocess.run(
        [
            OPENSSL, "verify", "-x509_strict", "-purpose", purpose,
            "-CAfile", str(tmp_path / "root.pem"),
            "-untrusted", str(tmp_path / "int.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")


def test_save_load(tmp_path):
    a = DemoPKI.load_or_create(tmp_path / "pki")
    b = DemoPKI.load_or_create(tmp_path / "pki")
    assert a.root.certificate == b.root.certificate
    assert a.organisations.file_name == b.organisations.file_name
