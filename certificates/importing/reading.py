"""Read an uploaded file (PEM, DER, PKCS#7, PKCS#12) into its certificates, or refuse it."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509 as cx509

from certificates import x509
from certificates.importing.audit import reject_file
from certificates.importing.context import ImportContext
from certificates.importing.outcomes import ImportResult, result_message, x509_reason


@dataclass
class Loaded:
    """A readable file: its certificates and the descriptions of its leaves (no query yet)."""

    filename: str
    certificates: list[cx509.Certificate]
    leaves: list[cx509.Certificate]
    infos: list[x509.CertificateInfo]
    has_private_key: bool


def load_file(
    ctx: ImportContext, data: bytes, password: bytes | None, filename: str
) -> Loaded | list[ImportResult]:
    """Parse a file; an unreadable one is rejected (and audited) here."""
    preloaded, ctx.preloaded = ctx.preloaded, None
    try:
        if isinstance(preloaded, x509.X509Error):
            raise preloaded
        bundle = preloaded or x509.load_bundle(
            data, password=password, max_size=ctx.max_size, time_limit=ctx.parse_seconds
        )
        leaves = x509.leaves(bundle.certificates)
    except x509.X509Error as exc:
        return reject_file(ctx, filename, *x509_reason(exc, password, ctx.max_size))
    except ValueError:  # malformed extensions are parsed lazily by cryptography
        return reject_file(ctx, filename, "corrupt", result_message("corrupt"))
    if not leaves:
        return reject_file(ctx, filename, "ca_certificate", result_message("ca_certificate"))
    unique: dict[bytes, cx509.Certificate] = {}
    for leaf in leaves:  # the same certificate twice in a file counts once
        unique.setdefault(x509.certificate_to_der(leaf), leaf)
    try:
        infos = [x509.describe_certificate(c) for c in unique.values()]
    except ValueError:
        return reject_file(ctx, filename, "corrupt", result_message("corrupt"))
    return Loaded(
        filename, bundle.certificates, list(unique.values()), infos, bundle.private_key is not None
    )
