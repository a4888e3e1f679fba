"""What an import reports: one result per certificate, with its message and a stable code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certificates import x509
from certificates.models import Certificate

ResultKind = Literal["imported", "duplicate", "rejected"]


# English msgids, translated by the gettext catalogues. Codes are stable for API clients.
MESSAGES: dict[str, Any] = {
    "too_large": _("The file is larger than the maximum size (%(size)s)."),
    "empty": _("The file is empty."),
    "not_a_certificate": _(
        "This file contains no certificate (is it a CSR, a private key alone or something else?)."
    ),
    "corrupt": _("The file cannot be read: it is damaged, truncated or in an unknown format."),
    "bad_passphrase": _("Wrong passphrase for this PKCS#12 file."),
    "passphrase_required": _("This PKCS#12 file is protected: enter its passphrase."),
    "unsupported_key": _("The private key in this file is of an unsupported type."),
    "too_costly": _(
        "Opening this file asks for too much computation (key derivation beyond the portal's "
        "limits): export it again with the default settings."
    ),
    "unsupported_encryption": _(
        "This file is encrypted with an algorithm the portal does not accept: export it again "
        "with the default settings (AES-256 with PBKDF2, or 3DES)."
    ),
    "ca_certificate": _(
        "This is a certification authority (CA) certificate, not an officine certificate."
    ),
    "unknown_profile": _(
        "This certificate matches no IGC Santé organisation profile "
        "(ORG AUTH_CLI, ORG SIGN, ORG CONF, SERV SSL)."
    ),
    "not_organisation": _(
        "This is a personal certificate (PERSONNES authority), not an organisation certificate."
    ),
    "untrusted_chain": _(
        "This certificate was not issued by a recognised IGC Santé authority (issuer: %(issuer)s)."
    ),
    "no_finess": _("The certificate carries no FINESS number (OU = 1 + FINESS)."),
    "unknown_officine": _("Unknown officine: FINESS %(finess)s is not one of your officines."),
    "invalid_officine": _("The officine of FINESS %(finess)s cannot be created: %(errors)s"),
    "key_mismatch": _("This certificate does not match the request (different public key)."),
    "request_closed": _("This request is no longer open (%(status)s)."),
    "request_not_ready": _("This request has no CSR yet: no certificate can answer it."),
    "officine_mismatch": _(
        "The certificate is for FINESS %(finess)s but its request is for another officine."
    ),
    "already_registered": _("This certificate is already registered."),
    "invalid_certificate": _("This certificate holds values the portal cannot store: %(errors)s"),
    "trust_store": _("The trust anchors cannot be loaded; contact the portal staff."),
    "file_rejected": _("Not imported: another certificate in this file was refused."),
    "conflict": _("The data changed during the import; try again."),
    "imported": _("Imported."),
    "imported_replaces": _("Imported; replaces the certificate of serial %(serial)s."),
    "duplicate": _("Already imported (serial %(serial)s)."),
}


@dataclass
class ImportResult:
    """What happened to one certificate of a file (or to the whole file if unreadable)."""

    file: str
    result: ResultKind
    reason: str
    code: str
    certificate: Certificate | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    results: list[ImportResult] = field(default_factory=list)

    def _of(self, kind: ResultKind) -> list[ImportResult]:
        return [r for r in self.results if r.result == kind]

    @property
    def imported(self) -> list[ImportResult]:
        return self._of("imported")

    @property
    def duplicates(self) -> list[ImportResult]:
        return self._of("duplicate")

    @property
    def rejected(self) -> list[ImportResult]:
        return self._of("rejected")

    @property
    def ok(self) -> bool:
        """Nothing refused (duplicates are fine)."""
        return not self.rejected

    @property
    def certificates(self) -> list[Certificate]:
        return [r.certificate for r in self.imported if r.certificate is not None]


class Rejected(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def reason(self) -> str:
        return result_message(self.code, **self.params)


def result_message(code: str, **params: Any) -> str:
    template = str(MESSAGES[code])  # lazy: translated in the active language here
    return template % params if params else template


def x509_reason(exc: x509.X509Error, password: bytes | None, max_size: int) -> tuple[str, str]:
    if exc.code == "bad_passphrase" and password is None:
        return exc.code, result_message("passphrase_required")
    if exc.code == "too_large":
        return exc.code, result_message("too_large", size=_human_size(max_size))
    if exc.code in MESSAGES:
        return exc.code, result_message(exc.code)
    return exc.code, exc.message  # x509 messages are French already


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return gettext("%(n)s MiB") % {"n": f"{size / 1024 / 1024:.3g}"}
    return gettext("%(n)s KiB") % {"n": f"{size / 1024:.3g}"}
