"""A generated CA hierarchy shaped like IGC Santé, for tests, demo data and benchmarks.

NEVER use it in production: every key lives in memory and the CAs are throwaway. It
copies what matters to the portal (DN shapes, key usages, policy OIDs, CRL/OCSP URLs)
so the code under test sees certificates that look like the real ones.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ObjectIdentifier
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certificates import x509 as igc
from certificates.x509 import PrivateKey, Profile, PublicKey

ANS_ARC = "1.2.250.1.213"
POLICY_PRODUCTION = "1.2.250.1.213.1.1.4.2"
POLICY_TEST = "1.2.250.1.213.1.7.2.1.1.1.1"
PRODUCT_CATEGORY_OID = ObjectIdentifier("1.2.250.1.71.1.2.5")
PRODUCT_CATEGORY_VALUE = b"\x02\x02\x00\x83"  # DER INTEGER 0x83: software certificate
CRL_URL = "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG.crl"
CRL_URL_TEST = "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG-TEST.crl"
OCSP_URL = "http://ocsp.esante.gouv.fr"


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def profile_validity(profile: Profile) -> int:
    """Months of validity: 3 years, ORG SIGN one month more (its key is used 3 years)."""
    return 37 if profile == Profile.ORG_SIGN else 36


_AUTO = object()


def sign_key_usage_end(not_after: datetime) -> datetime:
    """A real ORG SIGN's Private Key Usage Period ends one month before notAfter (a TEST ORG
    SIGN: key usage until 2024-11-15, notAfter 2024-12-15)."""
    return add_months(not_after, -1)


def _name(common_name: str, *, ous: tuple[str, ...], o: str = "ASIP-SANTE") -> x509.Name:
    """CA DN in the order ANS uses: C, O, OU..., CN."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


_PROD_OUS = ("0002 187512751", "IGC-SANTE")
_TEST_OUS = ("0002 187512751", "IGC-SANTE TEST")
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _build(
    builder: x509.CertificateBuilder, extensions: list[tuple[x509.ExtensionType, bool]]
) -> x509.CertificateBuilder:
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder


@dataclass(frozen=True)
class DemoCA:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    file_name: str

    @property
    def name(self) -> x509.Name:
        return self.certificate.subject


def _make_ca(name: x509.Name, file_name: str, parent: DemoCA | None, now: datetime) -> DemoCA:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_key = parent.key if parent else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(parent.name if parent else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=365 * (20 if parent is None else 15)))
    )
    path_length = None if parent is None else 0
    builder = _build(
        builder,
        [
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (_CA_KEY_USAGE, True),
            (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False),
        ],
    )
    return DemoCA(key, builder.sign(signer_key, hashes.SHA256()), file_name)


@dataclass(frozen=True)
class DemoPKI:
    """Production and test IGC Santé look-alikes, plus an unrelated CA for negative tests."""

    root: DemoCA
    organisations: DemoCA
    personnes: DemoCA
    test_root: DemoCA
    test_organisations: DemoCA
    other_root: DemoCA
    other: DemoCA

    @classmethod
    def create(cls) -> DemoPKI:
        """Seven fresh 2048-bit CAs (slow to generate); callers may keep and reuse the result."""
        now = datetime.now(UTC)
        root = _make_ca(
            _name("AC RACINE IGC-SANTE ELEMENTAIRE", ous=_PROD_OUS),
            "igc-sante-racine.pem",
            None,
            now,
        )
        test_root = _make_ca(
            _name("TEST AC RACINE IGC-SANTE ELEMENTAIRE", ous=_TEST_OUS),
            "igc-sante-test-racine.pem",
            None,
            now,
        )
        other_root = _make_ca(
            _name("Other Root CA", o="Other Trust Services", ous=()), "other-root.pem", None, now
        )
        org, pers = "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "AC IGC-SANTE ELEMENTAIRE PERSONNES"
        return cls(
            root=root,
            organisations=_make_ca(
                _name(org, ous=_PROD_OUS), "igc-sante-organisations.pem", root, now
            ),
            personnes=_make_ca(_name(pers, ous=_PROD_OUS), "igc-sante-personnes.pem", root, now),
            test_root=test_root,
            test_organisations=_make_ca(
                _name(f"TEST {org}", ous=_TEST_OUS),
                "igc-sante-test-organisations.pem",
                test_root,
                now,
            ),
            other_root=other_root,
            other=_make_ca(
                _name("Other CA", o="Other Trust Services", ous=()), "other.pem", other_root, now
            ),
        )

    def save(self, directory: Path) -> None:
        """Keep the demo CAs (keys included: they are throwaway) so `make run` can sign CSRs."""
        directory.mkdir(parents=True, exist_ok=True)
        for field in fields(self):
            ca: DemoCA = getattr(self, field.name)
            key_pem = ca.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            (directory / f"{field.name}.key").write_bytes(key_pem)
            (directory / f"{field.name}.pem").write_bytes(to_pem_bundle(ca.certificate))
            (directory / f"{field.name}.name").write_text(ca.file_name)

    @classmethod
    def load(cls, directory: Path) -> DemoPKI:
        cas = {}
        for field in fields(cls):
            key = serialization.load_pem_private_key(
                (directory / f"{field.name}.key").read_bytes(), password=None
            )
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("demo CA keys are RSA")
            certificate = x509.load_pem_x509_certificate(
                (directory / f"{field.name}.pem").read_bytes()
            )
            cas[field.name] = DemoCA(
                key, certificate, (directory / f"{field.name}.name").read_text()
            )
        return cls(**cas)

    @classmethod
    def load_or_create(cls, directory: Path) -> DemoPKI:
        if (directory / "root.key").exists():
            return cls.load(directory)
        pki = cls.create()
        pki.save(directory)
        return pki

    def issuing_ca(self, *, environment: str = "production", ca: str = "organisations") -> DemoCA:
        choices = {
            ("production", "organisations"): self.organisations,
            ("production", "personnes"): self.personnes,
            ("test", "organisations"): self.test_organisations,
        }
        if ca == "other":
            return self.other
        try:
            return choices[(environment, ca)]
        except KeyError:
            raise ValueError(f"no demo CA for environment={environment!r}, ca={ca!r}") from None

    def chain_for(
        self, environment: str = "production", ca: str = "organisations"
    ) -> list[x509.Certificate]:
        """[intermediate, root] above a leaf issued with the same arguments."""
        issuing = self.issuing_ca(environment=environment, ca=ca)
        if ca == "other":
            root = self.other_root
        else:
            root = self.test_root if environment == "test" else self.root
        return [issuing.certificate, root.certificate]

    def issue(
        self,
        *,
        csr_pem: bytes | None = None,
        public_key: PublicKey | None = None,
        subject: x509.Name | None = None,
        profile: Profile,
        environment: str = "production",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        ca: str = "organisations",
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        serial: int | None = None,
        key_usage_end: datetime | object | None = _AUTO,
    ) -> x509.Certificate:
        """Issue a leaf the way the ANS platform would (subject from the CSR unless given).

        `crl_url` / `ocsp_url` replace the IGC Santé addresses (tests point them at local
        servers); by default the CDP and AIA are the real ones, as in a real certificate.
        ORG SIGN certificates carry a Private Key Usage Period ending one month before
        notAfter, like the real ones; `key_usage_end` sets another end (None: no extension).
        """
        if csr_pem is not None:
            csr = x509.load_pem_x509_csr(csr_pem)
            csr_key = csr.public_key()
            if not isinstance(csr_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
                raise ValueError("demo CA issues RSA and EC keys only")
            public_key = public_key or csr_key
            subject = subject or csr.subject
        if public_key is None or subject is None:
            raise ValueError("issue() needs a CSR, or a public key and a subject")
        issuing = self.issuing_ca(environment=environment, ca=ca)
        not_before = not_before or datetime.now(UTC) - timedelta(minutes=5)
        if key_usage_end is _AUTO and profile == Profile.ORG_SIGN and not_after is None:
            key_usage_end = add_months(not_before, 36)  # 3 years of signing, notAfter + 1 month
        not_after = not_after or add_months(not_before, profile_validity(profile))
        test = environment == "test"
        policy = "2.5.29.32.0" if ca == "other" else (POLICY_TEST if test else POLICY_PRODUCTION)
        crl = x509.UniformResourceIdentifier(crl_url or (CRL_URL_TEST if test else CRL_URL))
        ocsp = x509.UniformResourceIdentifier(ocsp_url or OCSP_URL)
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (igc.key_usage_extension(profile), True),
            (
                x509.ExtendedKeyUsage(list(igc.PROFILE_EXTENSIONS[profile].extended_key_usage)),
                False,
            ),
            (
                x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(policy), None)]),
                False,
            ),
            (x509.UnrecognizedExtension(PRODUCT_CATEGORY_OID, PRODUCT_CATEGORY_VALUE), False),
            (x509.CRLDistributionPoints([x509.DistributionPoint([crl], None, None, None)]), False),
            (
                x509.AuthorityInformationAccess(
                    [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, ocsp)]
                ),
                False,
            ),
            (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing.key.public_key()), False),
        ]
        # The signing key may be used 3 years only (extension exists from cryptography 45).
        if key_usage_end is _AUTO:
            key_usage_end = sign_key_usage_end(not_after) if profile == Profile.ORG_SIGN else None
        if key_usage_end is not None:
            period = x509.PrivateKeyUsagePeriod(not_before, key_usage_end)
            extensions.append((period, False))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuing.name)
            .public_key(public_key)
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        return _build(builder, extensions).sign(issuing.key, hashes.SHA256())

    def issue_for(
        self,
        *,
        finess: str,
        raison_sociale: str,
        department: str,
        common_name: str,
        profile: Profile,
        environment: str = "production",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key: PrivateKey | None = None,
        ca: str = "organisations",
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        key_usage_end: datetime | object | None = _AUTO,
    ) -> tuple[PrivateKey, x509.Certificate]:
        """Key (new unless given) and certificate for an officine, subject in IGC Santé order."""
        key = key or igc.generate_private_key()
        subject = igc.build_subject(
            department=department,
            raison_sociale=raison_sociale,
            finess=finess,
            common_name=common_name,
        )
        cert = self.issue(
            public_key=key.public_key(),
            subject=subject,
            profile=profile,
            environment=environment,
            not_before=not_before,
            not_after=not_after,
            ca=ca,
            crl_url=crl_url,
            ocsp_url=ocsp_url,
            key_usage_end=key_usage_end,
        )
        return key, cert

    def crl(
        self,
        *,
        environment: str = "production",
        ca: str = "organisations",
        revoked: Iterable[tuple[int, datetime, x509.ReasonFlags | None]] = (),
        this_update: datetime | None = None,
        next_update: datetime | None = None,
        number: int = 1,
        delta_of: int | None = None,
        signer_key: rsa.RSAPrivateKey | None = None,
        freshest_url: str | None = None,
    ) -> x509.CertificateRevocationList:
        """A CRL of an issuing CA, as IGC Santé publishes it (reasons, CRL number).

        `delta_of` makes it a delta CRL over that base number; `signer_key` signs with another
        key (a forged CRL: right name, wrong signature); `freshest_url` announces a delta CRL.
        """
        issuing = self.issuing_ca(environment=environment, ca=ca)
        this_update = this_update or datetime.now(UTC) - timedelta(minutes=5)
        next_update = next_update or this_update + timedelta(days=7)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuing.name)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing.key.public_key()),
                critical=False,
            )
        )
        if delta_of is not None:
            builder = builder.add_extension(x509.DeltaCRLIndicator(delta_of), critical=True)
        if freshest_url:
            point = x509.DistributionPoint(
                [x509.UniformResourceIdentifier(freshest_url)], None, None, None
            )
            builder = builder.add_extension(x509.FreshestCRL([point]), critical=False)
        for serial, revoked_at, reason in revoked:
            entry = (
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
            )
            if reason is not None:
                entry = entry.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(signer_key or issuing.key, hashes.SHA256())

    def ocsp_responder(
        self, *, environment: str = "production", ca: str = "organisations", ocsp_eku: bool = True
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """A delegated OCSP responder certificate issued by an issuing CA (EKU OCSPSigning)."""
        issuing = self.issuing_ca(environment=environment, ca=ca)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        usage = [ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_eku else ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                _name(
                    f"OCSP {_common_name(issuing.name)}",
                    ous=_TEST_OUS if environment == "test" else _PROD_OUS,
                )
            )
            .issuer_name(issuing.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
        )
        builder = _build(
            builder,
            [
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (x509.ExtendedKeyUsage(usage), False),
                (x509.OCSPNoCheck(), False),
                (
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing.key.public_key()),
                    False,
                ),
            ],
        )
        return key, builder.sign(issuing.key, hashes.SHA256())

    def trust_anchors(self, include_test: bool = True) -> list[DemoCA]:
        """What an operator would drop in the trust directory (never the Other CA)."""
        anchors = [self.root, self.organisations, self.personnes]
        return anchors + ([self.test_root, self.test_organisations] if include_test else [])

    def trust_anchors_pem(self, include_test: bool = True) -> bytes:
        return to_pem_bundle(*(ca.certificate for ca in self.trust_anchors(include_test)))

    def write_trust_anchors(self, directory: Path, include_test: bool = True) -> None:
        """One PEM file per CA, like the files published by ANS."""
        directory.mkdir(parents=True, exist_ok=True)
        for ca in self.trust_anchors(include_test):
            (directory / ca.file_name).write_bytes(to_pem_bundle(ca.certificate))

    def trust_store(self, include_test: bool = True) -> igc.TrustStore:
        return igc.TrustStore(ca.certificate for ca in self.trust_anchors(include_test))


def _common_name(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def to_pem_bundle(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
