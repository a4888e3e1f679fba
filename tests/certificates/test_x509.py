"""certificates.x509 against real keys, a generated IGC Santé-like PKI and the real openssl."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from certificates import x509 as igc
from certificates.demo_pki import DemoPKI, to_pem_bundle
from certificates.x509 import ChainStatus, Profile, X509Error
from tests.helpers.tools import KEYTOOL, OPENSSL, requires_openssl

FINESS = "760021832"
PASSPHRASE = b"correct horse battery"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pki() -> DemoPKI:
    return DemoPKI.create()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def subject() -> x509.Name:
    return igc.build_subject(
        department="Rhône (69)",
        raison_sociale="PHARMACIE DE L'ÉGLISE",
        finess=FINESS,
        common_name="INSI-MANU",
    )


@pytest.fixture(scope="module")
def csr_pem(key: rsa.RSAPrivateKey, subject: x509.Name) -> bytes:
    return igc.build_csr(private_key=key, subject=subject)


@pytest.fixture(scope="module")
def issue(
    pki: DemoPKI, key: rsa.RSAPrivateKey, subject: x509.Name
) -> Callable[..., x509.Certificate]:
    """Issue with the shared key so the module generates few keys."""

    def issue_certificate(
        profile: Profile = Profile.ORG_AUTH_CLI, **kwargs: object
    ) -> x509.Certificate:
        return pki.issue(public_key=key.public_key(), subject=subject, profile=profile, **kwargs)  # type: ignore[arg-type]

    return issue_certificate


@pytest.fixture(scope="module")
def leaf(issue: Callable[..., x509.Certificate]) -> x509.Certificate:
    return issue()


@pytest.fixture(scope="module")
def store(pki: DemoPKI) -> igc.TrustStore:
    return pki.trust_store()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


# --------------------------------------------------------------------------- subject and CSR


def test_build_subject_uses_igc_sante_order(subject: x509.Name) -> None:
    assert [a.oid for a in subject] == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert [a.value for a in subject] == [
        "FR",
        "Rhône (69)",
        "PHARMACIE DE L'ÉGLISE",
        "1760021832",
        "INSI-MANU",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("common_name", ""),
        ("common_name", "X" * 65),
        ("raison_sociale", "  "),
        ("finess", "12345"),
        ("finess", "1760021832"),
    ],
)
def test_build_subject_rejects_bad_fields(field: str, value: str) -> None:
    fields = {
        "department": "Rhône (69)",
        "raison_sociale": "PHARMACIE",
        "finess": FINESS,
        "common_name": "INSI-MANU",
    }
    with pytest.raises(X509Error) as exc:
        igc.build_subject(**{**fields, field: value})
    assert exc.value.code == "invalid_subject"


def test_build_subject_accepts_corsican_finess() -> None:
    name = igc.build_subject(
        department="Haute-Corse (2B)",
        raison_sociale="PHARMACIE",
        finess="0B0152872",
        common_name="A",
    )
    assert name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "10B0152872"


@requires_openssl
def test_openssl_verifies_our_csr_and_reads_subject_in_order(
    csr_pem: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "req.csr"
    path.write_bytes(csr_pem)
    verified = _run(OPENSSL, "req", "-in", str(path), "-verify", "-noout")
    assert verified.returncode == 0, verified.stderr
    shown = _run(
        OPENSSL,
        "req",
        "-in",
        str(path),
        "-noout",
        "-subject",
        "-nameopt",
        "utf8,sep_comma_plus_space",
    )
    assert shown.stdout.strip() == (
        "subject=C=FR, ST=Rhône (69), O=PHARMACIE DE L'ÉGLISE, OU=1760021832, CN=INSI-MANU"
    )
    algorithm = _run(OPENSSL, "req", "-in", str(path), "-noout", "-text")
    assert "sha256WithRSAEncryption" in algorithm.stdout


def test_load_csr_pem(csr_pem: bytes, key: rsa.RSAPrivateKey) -> None:
    info = igc.load_csr(csr_pem)
    assert info.subject == "CN=INSI-MANU,OU=1760021832,O=PHARMACIE DE L'ÉGLISE,ST=Rhône (69),C=FR"
    assert (info.organisation, info.organisational_unit, info.common_name) == (
        "PHARMACIE DE L'ÉGLISE",
        "1760021832",
        "INSI-MANU",
    )
    assert (info.key_type, info.key_size) == ("RSA", 2048)
    assert info.public_key_sha256 == igc.public_key_sha256(key.public_key())
    assert info.pem == csr_pem.decode()


def test_load_csr_der_returns_normalized_pem(csr_pem: bytes) -> None:
    der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    info = igc.load_csr(der)
    assert info.pem == csr_pem.decode()
    assert info.pem.startswith("-----BEGIN CERTIFICATE REQUEST-----")


def test_load_csr_finds_the_request_among_other_pem_blocks(
    csr_pem: bytes, leaf: x509.Certificate
) -> None:
    legacy_label = csr_pem.replace(b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    assert igc.load_csr(b"some header\n" + _pem(leaf) + legacy_label).common_name == "INSI-MANU"


def test_load_csr_refuses_1024_bit_key(subject: x509.Name) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    with pytest.raises(X509Error) as exc:
        igc.load_csr(igc.build_csr(private_key=weak, subject=subject))
    assert exc.value.code == "weak_key"
    assert "1024" in exc.value.message and "2048" in exc.value.message


def test_load_csr_ec_key_needs_to_be_allowed(subject: x509.Name) -> None:
    csr = igc.build_csr(private_key=igc.generate_private_key(algorithm="EC"), subject=subject)
    with pytest.raises(X509Error) as exc:
        igc.load_csr(csr)
    assert exc.value.code == "unsupported_key"
    info = igc.load_csr(csr, allowed_keys={"RSA": 2048, "EC": 256})
    assert (info.key_type, info.key_size) == ("EC", 256)


def test_load_csr_refuses_broken_signature(csr_pem: bytes) -> None:
    der = bytearray(x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER))
    der[-10] ^= 0x01  # inside the signature BIT STRING, which ends the DER
    with pytest.raises(X509Error) as exc:
        igc.load_csr(bytes(der))
    assert exc.value.code == "bad_signature"
    assert exc.value.message == "La signature de la CSR est invalide."


@pytest.mark.parametrize("cut", ["half", "middle"])
def test_load_csr_truncated_pem_is_corrupt(csr_pem: bytes, cut: str) -> None:
    if cut == "half":
        data = csr_pem[: len(csr_pem) // 2]
    else:
        lines = csr_pem.splitlines(keepends=True)
        data = b"".join(lines[:3] + lines[-2:])
    with pytest.raises(X509Error) as exc:
        igc.load_csr(data)
    assert exc.value.code == "corrupt"


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty"), (b" \n", "empty"), (os.urandom(300), "corrupt")],
)
def test_load_csr_empty_or_garbage(data: bytes, code: str) -> None:
    with pytest.raises(X509Error) as exc:
        igc.load_csr(data)
    assert exc.value.code == code


def test_load_csr_given_a_certificate(leaf: x509.Certificate) -> None:
    with pytest.raises(X509Error) as exc:
        igc.load_csr(_pem(leaf))
    assert exc.value.code == "not_a_csr"


# --------------------------------------------------------------------------- profiles and description


@pytest.mark.parametrize("profile", list(Profile))
def test_detect_profile_from_usages(
    issue: Callable[..., x509.Certificate], profile: Profile
) -> None:
    assert igc.detect_profile(issue(profile)) == profile


def test_detect_profile_ignores_the_common_name(pki: DemoPKI, key: rsa.RSAPrivateKey) -> None:
    misleading = igc.build_subject(
        department="Rhône (69)", raison_sociale="P", finess=FINESS, common_name="ORG SIGN SSL"
    )
    cert = pki.issue(public_key=key.public_key(), subject=misleading, profile=Profile.ORG_CONF)
    assert igc.detect_profile(cert) == Profile.ORG_CONF


def test_detect_profile_none_for_a_ca(pki: DemoPKI) -> None:
    assert igc.detect_profile(pki.organisations.certificate) is None


def test_key_usage_extension_matches_profile_table() -> None:
    sign = igc.key_usage_extension(Profile.ORG_SIGN)
    assert sign.digital_signature and sign.content_commitment and not sign.key_encipherment
    conf = igc.key_usage_extension(Profile.ORG_CONF)
    assert conf.key_encipherment and not conf.digital_signature


@requires_openssl
def test_describe_certificate(
    leaf: x509.Certificate, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    info = igc.describe_certificate(leaf)
    assert info.subject == "CN=INSI-MANU,OU=1760021832,O=PHARMACIE DE L'ÉGLISE,ST=Rhône (69),C=FR"
    assert info.issuer.startswith("CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS,")
    assert (info.common_name, info.organisation, info.state) == (
        "INSI-MANU",
        "PHARMACIE DE L'ÉGLISE",
        "Rhône (69)",
    )
    assert (info.organisational_unit, info.finess) == ("1760021832", FINESS)
    assert info.profile == Profile.ORG_AUTH_CLI
    assert not info.is_ca
    assert info.policies == ("1.2.250.1.213.1.1.4.2",)
    assert info.not_before.tzinfo is not None and info.not_after.utcoffset() == timedelta(0)
    assert info.public_key_sha256 == igc.public_key_sha256(key.public_key())
    assert info.pem == _pem(leaf).decode()

    path = tmp_path / "leaf.pem"
    path.write_bytes(_pem(leaf))
    fingerprint = _run(OPENSSL, "x509", "-in", str(path), "-noout", "-fingerprint", "-sha256")
    assert (
        info.fingerprint_sha256
        == fingerprint.stdout.split("=", 1)[1].strip().replace(":", "").lower()
    )
    serial = _run(OPENSSL, "x509", "-in", str(path), "-noout", "-serial")
    assert info.serial == serial.stdout.strip().removeprefix("serial=")


def test_describe_certificate_without_finess_ou(pki: DemoPKI) -> None:
    info = igc.describe_certificate(pki.root.certificate)
    assert info.finess is None and info.is_ca
    assert info.organisational_unit == "0002 187512751"


def test_serial_is_whole_bytes(pki: DemoPKI, key: rsa.RSAPrivateKey, subject: x509.Name) -> None:
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(0xABC)
        .not_valid_before(datetime.now(UTC))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert igc.describe_certificate(cert).serial == "0ABC"


# --------------------------------------------------------------------------- bundles


def test_load_bundle_pem_single(leaf: x509.Certificate) -> None:
    bundle = igc.load_bundle(_pem(leaf))
    assert bundle.certificates == [leaf] and bundle.private_key is None


def test_load_bundle_pem_multi_keeps_order(pki: DemoPKI, leaf: x509.Certificate) -> None:
    chain = [leaf, *pki.chain_for("production")]
    assert igc.load_bundle(b"Bag Attributes\n" + to_pem_bundle(*chain)).certificates == chain


def test_load_bundle_pem_with_private_key(leaf: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )
    bundle = igc.load_bundle(_pem(leaf) + key_pem, password=PASSPHRASE)
    assert bundle.private_key is not None
    assert igc.key_matches_certificate(bundle.private_key, leaf)
    for password in (None, b"wrong passphrase"):
        with pytest.raises(X509Error) as exc:
            igc.load_bundle(_pem(leaf) + key_pem, password=password)
        assert exc.value.code == "bad_passphrase"


def test_load_bundle_der(leaf: x509.Certificate) -> None:
    assert igc.load_bundle(_der(leaf)).certificates == [leaf]


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_load_bundle_pkcs7(
    pki: DemoPKI, leaf: x509.Certificate, encoding: serialization.Encoding
) -> None:
    chain = [leaf, *pki.chain_for("production")]
    p7b = pkcs7.serialize_certificates(chain, encoding)
    assert set(igc.load_bundle(p7b).certificates) == set(chain)


@pytest.fixture(scope="module")
def p12(pki: DemoPKI, leaf: x509.Certificate, key: rsa.RSAPrivateKey) -> bytes:
    return igc.build_pkcs12(
        private_key=key,
        certificate=leaf,
        chain=pki.chain_for("production"),
        passphrase=PASSPHRASE,
        friendly_name=b"insi-manu",
    )


def test_load_bundle_pkcs12(p12: bytes, leaf: x509.Certificate) -> None:
    bundle = igc.load_bundle(p12, password=PASSPHRASE)
    assert bundle.certificates[0] == leaf and len(bundle.certificates) == 3
    assert bundle.private_key is not None
    assert igc.key_matches_certificate(bundle.private_key, leaf)


@pytest.mark.parametrize("password", [None, b"", b"wrong passphrase"])
def test_load_bundle_pkcs12_bad_passphrase(p12: bytes, password: bytes | None) -> None:
    with pytest.raises(X509Error) as exc:
        igc.load_bundle(p12, password=password)
    assert exc.value.code == "bad_passphrase"


def test_load_bundle_truncated_pkcs12_is_corrupt(p12: bytes) -> None:
    with pytest.raises(X509Error) as exc:
        igc.load_bundle(p12[:-40], password=PASSPHRASE)
    assert exc.value.code == "corrupt"


@requires_openssl
def test_load_bundle_pkcs12_exported_by_openssl(
    leaf: x509.Certificate, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    (tmp_path / "leaf.pem").write_bytes(_pem(leaf))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    exported = _run(
        OPENSSL, "pkcs12", "-export", "-in", str(tmp_path / "leaf.pem"),
        "-inkey", str(tmp_path / "key.pem"), "-out", str(tmp_path / "out.p12"),
        "-passout", "env:P12_PASS",
        env={"P12_PASS": PASSPHRASE.decode()},
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    bundle = igc.load_bundle((tmp_path / "out.p12").read_bytes(), password=PASSPHRASE)
    assert bundle.certificates == [leaf] and bundle.private_key is not None
    with pytest.raises(X509Error) as exc:
        igc.load_bundle((tmp_path / "out.p12").read_bytes(), password=b"wrong passphrase")
    assert exc.value.code == "bad_passphrase"


def test_load_bundle_pkcs12_without_passphrase(
    leaf: x509.Certificate, key: rsa.RSAPrivateKey
) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    clear = pkcs12.serialize_key_and_certificates(
        None, key, leaf, None, serialization.NoEncryption()
    )
    assert igc.load_bundle(clear).certificates == [leaf]


def test_load_bundle_refuses_csr_and_keys(csr_pem: bytes, key: rsa.RSAPrivateKey) -> None:
    csr_der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for data in (
        csr_pem,
        csr_der,
        key_pem,
        igc.private_key_to_der(key),
        b"hello, I am a certificate",
    ):
        with pytest.raises(X509Error) as exc:
            igc.load_bundle(data)
        assert exc.value.code == "not_a_certificate", data[:30]


def test_load_bundle_random_bytes() -> None:
    data = random.Random(42).randbytes(2048)  # deterministic garbage
    with pytest.raises(X509Error) as exc:
        igc.load_bundle(data)
    assert exc.value.code in {"corrupt", "not_a_certificate"}


def test_load_bundle_garbage_der_is_corrupt(leaf: x509.Certificate) -> None:
    with pytest.raises(X509Error) as exc:
        igc.load_bundle(_der(leaf)[:-100])
    assert exc.value.code == "corrupt"


def test_load_bundle_truncated_pem_is_corrupt(leaf: x509.Certificate) -> None:
    for data in (_pem(leaf)[:-40], _pem(leaf).replace(b"M", b"!", 3)):
        with pytest.raises(X509Error) as exc:
            igc.load_bundle(data)
        assert exc.value.code == "corrupt"


@pytest.mark.parametrize(("data", "code"), [(b"", "empty"), (b"\n\n  ", "empty")])
def test_load_bundle_empty(data: bytes, code: str) -> None:
    with pytest.raises(X509Error) as exc:
        igc.load_bundle(data)
    assert exc.value.code == code


def test_load_bundle_too_large_before_parsing() -> None:
    with pytest.raises(X509Error) as exc:
        igc.load_bundle(b"\x00" * 1025, max_size=1024)
    assert exc.value.code == "too_large"
    assert igc.DEFAULT_MAX_SIZE == 5 * 1024 * 1024


def test_split_leaf_and_chain_orders_issuers(pki: DemoPKI, leaf: x509.Certificate) -> None:
    intermediate, root = pki.chain_for("production")
    found, chain = igc.split_leaf_and_chain([root, leaf, intermediate])
    assert found == leaf and chain == [intermediate, root]
    assert igc.leaves([root, leaf]) == [leaf]
    assert igc.ca_certificates([root, leaf, intermediate]) == [root, intermediate]


def test_split_leaf_and_chain_needs_exactly_one_leaf(
    pki: DemoPKI, issue: Callable[..., x509.Certificate]
) -> None:
    sign, auth = issue(Profile.ORG_SIGN), issue(Profile.ORG_AUTH_CLI)
    with pytest.raises(X509Error) as exc:
        igc.split_leaf_and_chain([sign, auth])
    assert exc.value.code == "several_leaves"
    assert igc.leaves([sign, auth, pki.root.certificate]) == [sign, auth]
    with pytest.raises(X509Error) as exc:
        igc.split_leaf_and_chain(pki.chain_for("production"))
    assert exc.value.code == "no_leaf"


# --------------------------------------------------------------------------- chain validation


def test_chain_production_trusted(
    leaf: x509.Certificate, store: igc.TrustStore, pki: DemoPKI
) -> None:
    result = igc.validate_chain(leaf, store=store)
    assert result.status == ChainStatus.TRUSTED_PRODUCTION and result.trusted
    assert result.environment == "production"
    assert result.chain == pki.chain_for("production")
    assert "production" in result.detail and not result.warnings


def test_chain_test_environment(
    issue: Callable[..., x509.Certificate], store: igc.TrustStore
) -> None:
    result = igc.validate_chain(issue(environment="test"), store=store)
    assert (result.status, result.environment) == (ChainStatus.TRUSTED_TEST, "test")


def test_chain_person_certificate_is_not_organisation(
    issue: Callable[..., x509.Certificate], store: igc.TrustStore, pki: DemoPKI
) -> None:
    person = issue(ca="personnes")
    assert igc.validate_chain(person, store=store).status == ChainStatus.NOT_ORGANISATION
    # Even when nothing can be checked, the issuer's name gives it away.
    empty = igc.TrustStore([])
    assert igc.validate_chain(person, store=empty).status == ChainStatus.NOT_ORGANISATION


def test_chain_other_ca_untrusted(
    issue: Callable[..., x509.Certificate], store: igc.TrustStore, pki: DemoPKI
) -> None:
    foreign = issue(ca="other")
    result = igc.validate_chain(foreign, store=store, extra=pki.chain_for(ca="other"))
    assert result.status == ChainStatus.UNTRUSTED and result.environment is None
    assert "Other Root CA" in result.detail
    assert igc.validate_chain(foreign, store=store).status == ChainStatus.INCOMPLETE


def test_chain_missing_intermediate_incomplete_then_completed_by_extra(
    leaf: x509.Certificate, pki: DemoPKI
) -> None:
    roots_only = igc.TrustStore([pki.root.certificate, pki.test_root.certificate])
    result = igc.validate_chain(leaf, store=roots_only)
    assert result.status == ChainStatus.INCOMPLETE
    assert "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" in result.detail
    completed = igc.validate_chain(leaf, store=roots_only, extra=[pki.organisations.certificate])
    assert completed.status == ChainStatus.TRUSTED_PRODUCTION


def test_chain_same_names_other_keys_untrusted(
    store: igc.TrustStore, key: rsa.RSAPrivateKey
) -> None:
    impostor = DemoPKI.create()
    _, cert = impostor.issue_for(
        finess=FINESS,
        raison_sociale="PHARMACIE",
        department="Rhône (69)",
        common_name="INSI-AUTO",
        profile=Profile.ORG_AUTH_CLI,
        key=key,
    )
    result = igc.validate_chain(cert, store=store)
    assert result.status == ChainStatus.UNTRUSTED and "signature" in result.detail
    with_chain = igc.validate_chain(cert, store=store, extra=impostor.chain_for("production"))
    assert with_chain.status == ChainStatus.UNTRUSTED


def test_chain_self_signed_leaf_untrusted(
    key: rsa.RSAPrivateKey, subject: x509.Name, store: igc.TrustStore
) -> None:
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert igc.validate_chain(cert, store=store).status == ChainStatus.UNTRUSTED


def test_chain_reports_expired_ca_without_failing(
    leaf: x509.Certificate, store: igc.TrustStore
) -> None:
    result = igc.validate_chain(leaf, store=store, at=datetime.now(UTC) + timedelta(days=365 * 30))
    assert result.status == ChainStatus.TRUSTED_PRODUCTION
    assert len(result.warnings) == 2 and "n'est pas valide" in result.detail


def test_trust_store_from_directory(pki: DemoPKI, tmp_path: Path) -> None:
    pki.write_trust_anchors(tmp_path)
    (tmp_path / "igc-sante-racine.pem").rename(tmp_path / "racine.der")
    (tmp_path / "racine.der").write_bytes(_der(pki.root.certificate))
    (tmp_path / "both.crt").write_bytes(
        to_pem_bundle(pki.root.certificate, pki.organisations.certificate)
    )
    (tmp_path / "README.txt").write_text("ignored")
    store = igc.TrustStore.from_directory(tmp_path)
    assert {c.subject for c in store.roots} == {pki.root.name, pki.test_root.name}
    assert len(store.intermediates) == 3


def test_trust_store_from_directory_reports_bad_file(tmp_path: Path) -> None:
    (tmp_path / "broken.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n")
    with pytest.raises(X509Error) as exc:
        igc.TrustStore.from_directory(tmp_path)
    assert "broken.pem" in exc.value.message


# --------------------------------------------------------------------------- PKCS#12 export


@pytest.mark.parametrize("profile", ["modern", "legacy"])
@requires_openssl
def test_pkcs12_opens_in_openssl_and_keytool(
    profile: str, pki: DemoPKI, leaf: x509.Certificate, key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    data = igc.build_pkcs12(
        private_key=key,
        certificate=leaf,
        chain=pki.chain_for("production"),
        passphrase=PASSPHRASE,
        profile=profile,
        friendly_name=b"insi-manu",
    )
    path = tmp_path / "bundle.p12"
    path.write_bytes(data)
    env = {"P12_PASS": PASSPHRASE.decode()}
    command = [OPENSSL, "pkcs12", "-in", str(path), "-passin", "env:P12_PASS", "-nodes", "-info"]
    opened = _run(*command, env=env)
    if opened.returncode != 0 and profile == "legacy":
        opened = _run(*command, "-legacy", env=env)  # OpenSSL 3 builds without 3DES by default
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.count("BEGIN CERTIFICATE") == 3
    assert "BEGIN PRIVATE KEY" in opened.stdout
    expected = "AES-256-CBC" if profile == "modern" else "pbeWithSHA1And3-KeyTripleDES-CBC"
    assert expected in opened.stderr
    assert ("MAC: sha256" if profile == "modern" else "MAC: sha1") in opened.stderr

    wrong = _run(*command, env={"P12_PASS": "not the passphrase"})
    assert wrong.returncode != 0

    if Path(KEYTOOL).exists() and shutil.which("java"):
        listed = _run(
            KEYTOOL, "-list", "-storetype", "PKCS12", "-keystore", str(path),
            "-storepass", PASSPHRASE.decode(),
        )  # fmt: skip
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert "PrivateKeyEntry" in listed.stdout and "insi-manu" in listed.stdout


def test_pkcs12_refuses_short_passphrase(leaf: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(X509Error) as exc:
        igc.build_pkcs12(
            private_key=key, certificate=leaf, chain=[], passphrase="courte-é".encode()
        )
    assert exc.value.code == "weak_passphrase"
    assert igc.PKCS12_MIN_PASSPHRASE == 12


def test_pkcs12_refuses_unknown_profile_and_foreign_key(
    leaf: x509.Certificate, key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(ValueError, match="profile"):
        igc.build_pkcs12(
            private_key=key, certificate=leaf, chain=[], passphrase=PASSPHRASE, profile="rc2"
        )
    other = igc.generate_private_key(algorithm="EC")
    with pytest.raises(X509Error) as exc:
        igc.build_pkcs12(private_key=other, certificate=leaf, chain=[], passphrase=PASSPHRASE)
    assert exc.value.code == "key_mismatch"


# --------------------------------------------------------------------------- keys


def test_private_key_der_round_trip(key: rsa.RSAPrivateKey, leaf: x509.Certificate) -> None:
    der = igc.private_key_to_der(key)
    assert igc.load_private_key_der(der).private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    assert igc.key_matches_certificate(igc.load_private_key_der(der), leaf)
    with pytest.raises(X509Error) as exc:
        igc.load_private_key_der(der[:50])
    assert exc.value.code == "corrupt"


def test_generate_private_key_options() -> None:
    ec_key = igc.generate_private_key(algorithm="EC")
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey) and ec_key.curve.name == "secp256r1"
    with pytest.raises(ValueError):
        igc.generate_private_key(key_size=1024)
    with pytest.raises(ValueError):
        igc.generate_private_key(algorithm="DSA")


def test_key_matches_certificate_false_for_other_key(leaf: x509.Certificate) -> None:
    assert not igc.key_matches_certificate(igc.generate_private_key(algorithm="EC"), leaf)


def test_certificate_encodings(leaf: x509.Certificate) -> None:
    assert x509.load_der_x509_certificate(igc.certificate_to_der(leaf)) == leaf
    assert x509.load_pem_x509_certificate(igc.certificate_to_pem(leaf).encode()) == leaf


def test_x509_error_is_a_value_error() -> None:
    error = X509Error("corrupt", "Le fichier est illisible.")
    assert isinstance(error, ValueError)
    assert (error.code, str(error)) == ("corrupt", "Le fichier est illisible.")
