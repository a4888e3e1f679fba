"""Parse and verify a CRL against the trust anchors; nothing here writes or needs Django.

A CRL is used only when it is signed by the CA it names (a trust-anchor CA with cRLSign), is
already valid (`thisUpdate`) and not stale (`nextUpdate`). Serials are matched as integers:
a 50,000-entry CRL is read once into a set, and only the entries that hit a certificate of
ours are looked at closely (date, reason).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from certificates.revocation.points import freshest_crl_urls

CLOCK_SKEW = timedelta(minutes=5)


class CrlError(Exception):
    """A CRL that must not be applied; `code` is stable (reports, tests), the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Revocation:
    serial: int
    revoked_at: datetime
    reason: str  # RFC 5280 reason name ("keyCompromise", "removeFromCRL"...), "" if none given


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """DER (as IGC Santé publishes) or PEM; anything else is a CrlError("unreadable")."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CrlError("unreadable", f"Not a CRL (or a truncated one): {exc}") from None


def _may_sign_crls(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.crl_sign


@dataclass(frozen=True)
class VerifiedCrl:
    """A CRL whose signature, issuer and dates were checked (see `verify_crl`)."""

    crl: x509.CertificateRevocationList
    issuer_certificate: x509.Certificate
    number: int | None
    delta_of: int | None  # base CRL number when this is a delta CRL
    this_update: datetime
    next_update: datetime

    @property
    def is_delta(self) -> bool:
        return self.delta_of is not None

    @property
    def issuer_dn(self) -> str:
        return self.crl.issuer.rfc4514_string()

    @property
    def freshest_urls(self) -> list[str]:
        return freshest_crl_urls(self.crl)

    def __len__(self) -> int:
        return len(self.crl)

    @cached_property
    def serials(self) -> frozenset[int]:
        return frozenset(entry.serial_number for entry in self.crl)

    def revocation(self, serial: int) -> Revocation | None:
        entry = self.crl.get_revoked_certificate_by_serial_number(serial)
        if entry is None:
            return None
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            reason_name = _REASON_NAMES.get(reason, reason.value)
        except x509.ExtensionNotFound:
            reason_name = ""
        return Revocation(serial, entry.revocation_date_utc, reason_name)

    def matching(self, serials: Iterable[int]) -> list[Revocation]:
        """The revocations of these serials (the others are certificates we do not hold)."""
        listed = self.serials
        return [r for s in serials if s in listed and (r := self.revocation(s)) is not None]


_REASON_NAMES = {
    x509.ReasonFlags.unspecified: "unspecified",
    x509.ReasonFlags.key_compromise: "keyCompromise",
    x509.ReasonFlags.ca_compromise: "cACompromise",
    x509.ReasonFlags.affiliation_changed: "affiliationChanged",
    x509.ReasonFlags.superseded: "superseded",
    x509.ReasonFlags.cessation_of_operation: "cessationOfOperation",
    x509.ReasonFlags.certificate_hold: "certificateHold",
    x509.ReasonFlags.privilege_withdrawn: "privilegeWithdrawn",
    x509.ReasonFlags.aa_compromise: "aACompromise",
    x509.ReasonFlags.remove_from_crl: "removeFromCRL",
}


def verify_crl(
    data: bytes | x509.CertificateRevocationList,
    *,
    issuers: Iterable[x509.Certificate],
    now: datetime | None = None,
) -> VerifiedCrl:
    """Check who signed the CRL and that it is current; raise CrlError otherwise.

    `issuers` are the CA certificates we trust (the trust anchors): the CRL's issuer must be
    one of them by name *and* by signature, and be allowed to sign CRLs.
    """
    now = now or datetime.now(UTC)
    crl = data if isinstance(data, x509.CertificateRevocationList) else load_crl(data)
    named = [c for c in issuers if c.subject == crl.issuer]
    if not named:
        raise CrlError(
            "unknown_issuer",
            f"CRL issued by « {crl.issuer.rfc4514_string()} », not a trusted IGC Santé CA.",
        )
    issuer = None
    for candidate in named:
        try:
            if crl.is_signature_valid(candidate.public_key()):  # type: ignore[arg-type]
                issuer = candidate
                break
        except (TypeError, ValueError, InvalidSignature, UnsupportedAlgorithm):
            continue
    if issuer is None:
        raise CrlError("bad_signature", "The CRL signature does not match its CA's key.")
    if not _may_sign_crls(issuer):
        raise CrlError("not_crl_signer", "The CA that signed the CRL may not sign CRLs.")
    this_update = crl.last_update_utc
    next_update = crl.next_update_utc
    if next_update is None:
        raise CrlError("no_next_update", "The CRL has no nextUpdate: its freshness is unknown.")
    if this_update > now + CLOCK_SKEW:
        raise CrlError("not_yet_valid", f"The CRL is dated in the future ({this_update}).")
    if next_update < now:
        raise CrlError("stale", f"The CRL expired at its nextUpdate ({next_update}).")
    try:
        number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    try:
        delta_of: int | None = crl.extensions.get_extension_for_class(
            x509.DeltaCRLIndicator
        ).value.crl_number
    except x509.ExtensionNotFound:
        delta_of = None
    return VerifiedCrl(crl, issuer, number, delta_of, this_update, next_update)


def check_not_older(
    crl: VerifiedCrl, *, kept_number: int | None, kept_this_update: datetime | None
) -> None:
    """Refuse a CRL older than the one already applied (a replayed or rolled-back CRL)."""
    if kept_number is not None and crl.number is not None and crl.number < kept_number:
        raise CrlError(
            "older", f"CRL number {crl.number} is older than the one kept ({kept_number})."
        )
    if kept_this_update is not None and crl.this_update < kept_this_update:
        raise CrlError(
            "older",
            f"CRL issued {crl.this_update:%Y-%m-%d %H:%M} is older than the one kept "
            f"({kept_this_update:%Y-%m-%d %H:%M}).",
        )
