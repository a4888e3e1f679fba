"""Where an X.509 certificate says its revocation status is published (CDP, AIA OCSP)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID


def serial_hex(serial: int) -> str:
    """A serial number the way `Certificate.serial` stores it: upper-case hex, whole bytes."""
    text = f"{serial:X}"
    return text.zfill(len(text) + len(text) % 2)


def _uris(names) -> list[str]:
    return [n.value for n in names or () if isinstance(n, x509.UniformResourceIdentifier)]


def crl_urls(cert: x509.Certificate, *, schemes: tuple[str, ...] = ("http", "https")) -> list[str]:
    """The CRL distribution points of `cert` (HTTP ones by default: the LDAP ones are skipped)."""
    try:
        points = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    except x509.ExtensionNotFound:
        return []
    urls = [uri for point in points for uri in _uris(point.full_name)]
    return [u for u in urls if u.split(":", 1)[0].lower() in schemes]


def freshest_crl_urls(crl: x509.CertificateRevocationList) -> list[str]:
    """Where the delta CRLs of a base CRL are published (FreshestCRL extension), if anywhere."""
    try:
        points = crl.extensions.get_extension_for_class(x509.FreshestCRL).value
    except x509.ExtensionNotFound:
        return []
    return [u for point in points for u in _uris(point.full_name) if u.lower().startswith("http")]


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responders named in the Authority Information Access extension."""
    try:
        access = cert.extensions.get_extension_for_oid(
            ExtensionOID.AUTHORITY_INFORMATION_ACCESS
        ).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in access
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
