"""Import issued certificates: what an administrator brings back from ANS or finds on a server.

One service for every entry point (wizard upload, REST API, `import_certificates` command):
PEM (one or several), DER, PKCS#7, PKCS#12 with its passphrase, a file with its chain.

Rules worth knowing before reading the code:

* All or nothing per file. Every certificate of a file is checked first (profile, chain,
  officine, request) without writing anything; only when all pass are they written, in one
  transaction. A file with one bad certificate changes nothing.
* The officine is found from the OU (`1` + FINESS) among the importing editor's officines
  only: a FINESS of another editor is reported exactly like an unknown one.
* Chains are validated offline against `certificates.trust.trust_store()`. Trusted production
  or test chains are imported; a PERSONNES chain is refused (`not_organisation`); a chain
  ending at a foreign root is refused (`untrusted_chain`) unless `allow_untrusted` (staff
  tooling). An *incomplete* chain (issuer not found) is imported with a warning when the
  issuer looks like IGC Santé (a CA file missing from the trust directory); a leaf from an
  unknown authority without its chain is treated as untrusted, so "a certificate from
  another CA" is refused whether or not its chain comes with it.
* A duplicate (same fingerprint in this editor) is reported, not an error. The fingerprint is
  unique per editor only: two vendors may hold the same officine's certificate during a
  change of LGO, and nothing another editor imported is looked at or told.
* Renewal: the new certificate replaces the live certificate of the same officine, profile,
  CN and environment that expires before it (or the one its request `renews`); the old one is
  marked superseded. Importing an older certificate after a newer one marks the older one
  superseded at once, so onboarding a folder in any order gives the same result.
* Services: those of the matching request; else inferred (INSI-AUTO/INSI-MANU AUTH_CLI ->
  INSi, ORG SIGN -> DMP) plus the caller's `services`.
* Bulk (`certificates_import_files`): same checks; files are looked up by batches and the
  ones that only insert are inserted together, everything else is written file by file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from cryptography import x509 as cx509
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certificates import x509
from certificates.coverage import coverage_refresh
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    CertificateRequest,
    ChainStatus,
    Environment,
    KeyMode,
    Profile,
    RequestStatus,
    Service,
)
from certificates.requests import issuable_statuses, request_mark_issued
from certificates.trust import trust_store
from officines import identifiers
from officines.models import Officine
from officines.services import officine_save
from portal.audit import audit_record
from portal.models import AuditEvent, Editor, User

logger = logging.getLogger(__name__)

ResultKind = Literal["imported", "duplicate", "rejected"]
AUDIT_ACTION = "certificate.import"
# A request can receive its certificate once it has a key (CSR) and until it is issued;
# one whose key is generated on the ANS platform, as soon as it is recorded.
ISSUABLE_STATUSES = (RequestStatus.CSR_READY, RequestStatus.SUBMITTED)
ANS_ISSUABLE_STATUSES = issuable_statuses(KeyMode.ANS)
# Files looked up together in bulk imports (fingerprints, requests, duplicates).
BATCH_SIZE = 100

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


class _Rejected(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def reason(self) -> str:
        return _message(self.code, **self.params)


def _message(code: str, **params: Any) -> str:
    template = str(MESSAGES[code])  # lazy: translated in the active language here
    return template % params if params else template


def _x509_reason(exc: x509.X509Error, password: bytes | None, max_size: int) -> tuple[str, str]:
    if exc.code == "bad_passphrase" and password is None:
        return exc.code, _message("passphrase_required")
    if exc.code == "too_large":
        return exc.code, _message("too_large", size=_human_size(max_size))
    if exc.code in MESSAGES:
        return exc.code, _message(exc.code)
    return exc.code, exc.message  # x509 messages are French already


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return gettext("%(n)s MiB") % {"n": f"{size / 1024 / 1024:.3g}"}
    return gettext("%(n)s KiB") % {"n": f"{size / 1024:.3g}"}


# --------------------------------------------------------------------------- context


# The webhook event announcing an imported certificate to the LGO (notifications/WEBHOOKS.md).
ISSUED_EVENT = "certificate.issued"


class _Context:
    """State shared by the files of one run: who imports, the trust store, look-up caches."""

    def __init__(
        self,
        *,
        editor: Editor,
        actor: Any,
        http_request: HttpRequest | None,
        create_officines: bool,
        allow_untrusted: bool,
        services: Sequence[str] | None,
        preload_officines: bool,
    ) -> None:
        self.editor = editor
        self.actor = actor
        self.http_request = http_request
        self.create_officines = create_officines
        self.allow_untrusted = allow_untrusted
        self.services = list(services or [])
        self.max_size: int = settings.MAX_UPLOAD_SIZE
        self.parse_seconds: float = settings.UPLOAD_PARSE_SECONDS
        # A bundle the caller already opened (the API checks an officine-limited key's
        # file first): used instead of deriving the PKCS#12 key a second time.
        self.preloaded: x509.LoadedBundle | x509.X509Error | None = None
        user = actor if isinstance(actor, User) else None
        if user is None and http_request is not None and isinstance(http_request.user, User):
            user = http_request.user  # an API key (ApiPrincipal) is no importing user
        self.user = user
        self._officines: dict[str, Officine] | None = None
        if preload_officines:  # one query for the whole run instead of one per file
            self._officines = {o.finess: o for o in Officine.objects.of_editor(editor.pk)}

    def officines(self, finesses: set[str]) -> dict[str, Officine]:
        if not finesses:
            return {}
        if self._officines is not None:
            return {f: self._officines[f] for f in finesses if f in self._officines}
        found = Officine.objects.of_editor(self.editor.pk).filter(finess__in=finesses)
        return {o.finess: o for o in found}

    @cached_property
    def announces_issued(self) -> bool:
        """Whether any webhook of the editor listens to `certificate.issued` (one query a run)."""
        from notifications.models import WebhookEndpoint

        return (
            WebhookEndpoint.objects.of_editor(self.editor.pk)
            .filter(is_active=True, events__contains=f",{ISSUED_EVENT},")
            .exists()
        )

    def remember_officine(self, officine: Officine) -> None:
        if self._officines is not None:
            self._officines[officine.finess] = officine


# --------------------------------------------------------------------------- analysis


@dataclass
class _Plan:
    """A certificate that passed every check, waiting to be written."""

    index: int
    info: x509.CertificateInfo
    certificate: Certificate
    officine: Officine
    request: CertificateRequest | None
    warnings: list[str]


_DEPARTMENT_RE = re.compile(r"\(([0-9][0-9AB][0-9]?)\)\s*$")
_IGC_ISSUER_RE = re.compile(r"IGC[- ]SANTE", re.IGNORECASE)
_ANS_POLICY_ARC = "1.2.250.1.213."


def department_from_state(state: str | None) -> str:
    """ "Rhône (69)" -> "69", "Corse-du-Sud (2A)" -> "2A"; "" when the ST has no code."""
    match = _DEPARTMENT_RE.search(state or "")
    return match.group(1).upper() if match else ""


def _looks_like_igc_sante(cert: cx509.Certificate, info: x509.CertificateInfo) -> bool:
    """Issued under the ANS arc or by a CA named IGC-SANTE: an incomplete chain is then ours."""
    if any(p.startswith(_ANS_POLICY_ARC) for p in info.policies):
        return True
    return any(
        _IGC_ISSUER_RE.search(str(a.value))
        for a in cert.issuer.get_attributes_for_oid(cx509.oid.NameOID.COMMON_NAME)
    )


def _issuer_cn(cert: cx509.Certificate) -> str:
    attrs = cert.issuer.get_attributes_for_oid(cx509.oid.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else cert.issuer.rfc4514_string()


def infer_services(profile: str, common_name: str) -> list[str]:
    """Services a certificate without request obviously serves (INSi CN, DMP signature)."""
    if profile == Profile.ORG_AUTH_CLI and common_name in identifiers.INSI_COMMON_NAMES:
        return [Service.INSI]
    if profile == Profile.ORG_SIGN:
        return [Service.DMP]
    return []


def _check_chain(
    ctx: _Context,
    store: x509.TrustStore,
    cert: cx509.Certificate,
    info: x509.CertificateInfo,
    extra: list[cx509.Certificate],
    warnings: list[str],
) -> tuple[x509.ChainResult, ChainStatus]:
    """The validated chain and the status to store; raises `_Rejected` for refused chains."""
    chain = x509.validate_chain(cert, extra=extra, store=store)
    if chain.status == x509.ChainStatus.NOT_ORGANISATION:
        raise _Rejected("not_organisation")
    foreign = chain.status == x509.ChainStatus.UNTRUSTED or (
        chain.status == x509.ChainStatus.INCOMPLETE and not _looks_like_igc_sante(cert, info)
    )
    if foreign:
        if not ctx.allow_untrusted:
            raise _Rejected("untrusted_chain", issuer=_issuer_cn(cert))
        warnings.append(
            gettext("Imported although its authority is not trusted (issuer: %(issuer)s).")
            % {"issuer": _issuer_cn(cert)}
        )
    elif chain.status == x509.ChainStatus.INCOMPLETE:
        warnings.append(
            gettext(
                "Incomplete chain: the authority %(issuer)s is not in the trust anchors; "
                "import the file with its chain or ask the staff to add the CA."
            )
            % {"issuer": _issuer_cn(cert)}
        )
    for ca in chain.chain:
        if not ca.not_valid_before_utc <= timezone.now() <= ca.not_valid_after_utc:
            warnings.append(
                gettext("The authority %(ca)s is not valid today.")
                % {"ca": x509.describe_certificate(ca).common_name or ca.subject.rfc4514_string()}
            )
    return chain, ChainStatus.UNTRUSTED if foreign else ChainStatus(str(chain.status))


def _check_request(request: CertificateRequest, info: x509.CertificateInfo) -> None:
    """An upload for a given request must carry its key, and the request must await it."""
    if request.status not in OPEN_REQUEST_STATUSES:
        raise _Rejected("request_closed", status=request.get_status_display())
    if request.key_mode == KeyMode.ANS and not request.public_key_sha256:
        if request.status not in ANS_ISSUABLE_STATUSES:
            raise _Rejected("request_not_ready")
        return  # the key was made on the ANS platform: the certificate brings it
    if request.status not in ISSUABLE_STATUSES or not request.public_key_sha256:
        raise _Rejected("request_not_ready")
    if request.public_key_sha256 != info.public_key_sha256:
        raise _Rejected("key_mismatch")


def _new_officine(
    ctx: _Context, info: x509.CertificateInfo, finess: str, environment: str
) -> Officine:
    """Officine built from the certificate's subject; validated now, saved only if all passes."""
    if not info.organisation:
        raise _Rejected(
            "invalid_officine",
            finess=finess,
            errors=gettext("the certificate has no raison sociale (O)."),
        )
    officine = Officine(
        editor=ctx.editor,
        finess=finess,
        raison_sociale=info.organisation[:200],
        department=department_from_state(info.state),
        environment=environment,
    )
    try:
        officine.full_clean()
    except ValidationError as exc:
        raise _Rejected("invalid_officine", finess=finess, errors=" ".join(exc.messages)) from exc
    return officine


def _analyse(
    ctx: _Context,
    store: x509.TrustStore,
    index: int,
    cert: cx509.Certificate,
    info: x509.CertificateInfo,
    extra: list[cx509.Certificate],
    *,
    officines: dict[str, Officine],
    new_officines: dict[str, Officine],
    requests: dict[str, CertificateRequest],
    request: CertificateRequest | None,
    ans_requests: dict[tuple[int, str, str], CertificateRequest] | None = None,
) -> _Plan:
    """Every check for one certificate; raises `_Rejected`, writes nothing."""
    warnings: list[str] = []
    if request is not None:
        _check_request(request, info)
    if info.profile is None:
        raise _Rejected("unknown_profile")
    chain, chain_status = _check_chain(ctx, store, cert, info, extra, warnings)

    if not info.finess:
        raise _Rejected("no_finess")
    finess = info.finess.upper()
    officine = officines.get(finess) or new_officines.get(finess)
    if officine is None:
        if not ctx.create_officines:
            raise _Rejected("unknown_officine", finess=finess)
        officine = _new_officine(ctx, info, finess, chain.environment or Environment.PRODUCTION)
        new_officines[finess] = officine
        warnings.append(
            gettext("Officine %(finess)s created from the certificate.") % {"finess": finess}
        )
    elif not officine.is_active:
        warnings.append(gettext("This officine is deactivated."))

    matched = request or requests.get(info.public_key_sha256)
    if matched is None and ans_requests and officine.pk is not None:
        # A key generated on the ANS platform: the open request of that officine, profile
        # and CN waits for it (its public key is only known now).
        matched = ans_requests.get((officine.pk, str(info.profile), info.common_name or ""))
    if matched is not None:
        if matched.officine_id != officine.pk:
            raise _Rejected("officine_mismatch", finess=finess)
        if matched.profile != info.profile:
            warnings.append(
                gettext("The request was for profile %(requested)s, the certificate is %(got)s.")
                % {"requested": matched.get_profile_display(), "got": Profile(info.profile).label}
            )

    environment = chain.environment or officine.environment
    if chain.environment and chain.environment != officine.environment:
        warnings.append(
            gettext("The certificate's environment (%(cert)s) differs from the officine's.")
            % {"cert": Environment(chain.environment).label}
        )
    now = timezone.now()
    if info.usable_until <= now:
        warnings.append(gettext("This certificate has expired."))
    elif info.not_before > now:
        warnings.append(gettext("This certificate is not valid yet."))

    common_name = info.common_name or ""
    if matched is not None:
        services = list(matched.services)
    else:
        services = sorted({*infer_services(info.profile, common_name), *ctx.services})
    certificate = Certificate(
        editor=ctx.editor,
        profile=str(info.profile),
        common_name=common_name,
        services=services,
        serial=info.serial,
        subject_dn=info.subject,
        issuer_dn=info.issuer,
        not_before=info.not_before,
        not_after=info.not_after,
        usable_until=info.usable_until,
        fingerprint_sha256=info.fingerprint_sha256,
        public_key_sha256=info.public_key_sha256,
        environment=environment,
        chain_status=chain_status,
        pem=info.pem,
        chain_pem="".join(x509.certificate_to_pem(c) for c in chain.chain),
        imported_by=ctx.user,
    )
    try:
        certificate.clean_fields(
            exclude=["editor", "officine", "request", "replaces", "imported_by"]
        )
    except ValidationError as exc:
        raise _Rejected("invalid_certificate", errors=" ".join(exc.messages)) from exc
    return _Plan(index, info, certificate, officine, matched, warnings)


# --------------------------------------------------------------------------- writing


_LIVE_FIELDS = (
    "id",
    "editor_id",
    "officine_id",
    "profile",
    "common_name",
    "environment",
    "not_after",
    "usable_until",
    "serial",
    "replaces_id",
    "revoked_at",
    "superseded_at",
)


def _live_certificates(ctx: _Context, officine_ids: Iterable[int]) -> dict[int, list[Certificate]]:
    """Live certificates of some officines, the candidates a new certificate may replace."""
    ids = [pk for pk in officine_ids if pk is not None]
    live: dict[int, list[Certificate]] = {pk: [] for pk in ids}
    if ids:
        rows = Certificate.objects.of_editor(ctx.editor.pk).live().filter(officine_id__in=ids)
        for certificate in rows.only(*_LIVE_FIELDS).order_by():
            live[certificate.officine_id].append(certificate)
    return live


def _neighbours(
    ctx: _Context, lookups: _Lookups, certificate: Certificate, request: CertificateRequest | None
) -> tuple[Certificate | None, Certificate | None]:
    """(the live certificate this one replaces, a live newer one that already replaces it)."""
    group = lookups.live.get(certificate.officine_id)
    if group is None:  # an officine created by this file, or forgotten after a rollback
        group = _live_certificates(ctx, [certificate.officine_id])[certificate.officine_id]
        lookups.live[certificate.officine_id] = group
    key = (certificate.profile, certificate.common_name, certificate.environment)
    same = [c for c in group if (c.profile, c.common_name, c.environment) == key]
    older = [c for c in same if c.not_after < certificate.not_after]
    newer = [c for c in same if c.not_after > certificate.not_after]
    predecessor = max(older, key=lambda c: c.not_after) if older else None
    if request is not None and request.renews_id:
        # What the request renews wins, if it is still live (it may have another CN).
        predecessor = next((c for c in group if c.pk == request.renews_id), predecessor)
    successor = min(newer, key=lambda c: c.not_after) if newer else None
    return predecessor, successor


def _audit_import(
    ctx: _Context,
    certificate: Certificate,
    filename: str,
    request: CertificateRequest | None = None,
    predecessor: Certificate | None = None,
    created_officine: bool = False,
) -> None:
    audit_record(
        action=AUDIT_ACTION,
        actor=ctx.actor,
        editor=ctx.editor,
        target=certificate,
        request=ctx.http_request,
        details={
            "file": filename[:200],
            "fingerprint_sha256": certificate.fingerprint_sha256,
            "chain_status": certificate.chain_status,
            "environment": certificate.environment,
            "request": request.pk if request else None,
            "replaces": predecessor.pk if predecessor else None,
            "officine_created": created_officine,
        },
    )
    if ctx.announces_issued:
        from notifications.events import emit

        emit(editor_id=ctx.editor.pk, event=ISSUED_EVENT, certificate_id=certificate.pk)


def _write(ctx: _Context, lookups: _Lookups, plan: _Plan, filename: str) -> ImportResult:
    """Write one checked certificate: officine if new, supersede links, request, audit."""
    officine = plan.officine
    created_officine = officine.pk is None
    if created_officine:
        officine_save(officine=officine, actor=ctx.actor, request=ctx.http_request)
    certificate = plan.certificate
    certificate.officine = officine
    predecessor, successor = _neighbours(ctx, lookups, certificate, plan.request)
    now = timezone.now()
    certificate.replaces = predecessor
    if successor is not None:
        certificate.superseded_at = now
        plan.warnings.append(
            gettext("A newer certificate (serial %(serial)s) already replaces this one.")
            % {"serial": successor.serial}
        )
    if predecessor is not None:  # before the insert, whose post_save refreshes the coverage
        predecessor.superseded_at = now
        Certificate.objects.filter(pk=predecessor.pk).update(superseded_at=now)
    certificate.save(force_insert=True)
    if successor is not None and successor.replaces_id is None:
        successor.replaces = certificate
        successor.save(update_fields=["replaces"])
    group = lookups.live[officine.pk]  # kept current for the next files of the batch
    if predecessor is not None and predecessor in group:
        group.remove(predecessor)
    if successor is None:
        group.append(certificate)
    if plan.request is not None:
        request_mark_issued(request=plan.request, certificate=certificate)
    _audit_import(ctx, certificate, filename, plan.request, predecessor, created_officine)
    reason = (
        _message("imported_replaces", serial=predecessor.serial)
        if predecessor
        else _message("imported")
    )
    return ImportResult(filename, "imported", reason, "imported", certificate, plan.warnings)


# --------------------------------------------------------------------------- one file


def _audit_failure(ctx: _Context, filename: str, results: list[ImportResult]) -> None:
    codes = sorted({r.code for r in results if r.code != "file_rejected"})
    audit_record(
        action=AUDIT_ACTION,
        actor=ctx.actor,
        editor=ctx.editor,
        request=ctx.http_request,
        outcome=AuditEvent.Outcome.FAILURE,
        reason=",".join(codes),
        details={"file": filename[:200], "codes": codes},
    )


def _reject_file(ctx: _Context, filename: str, code: str, reason: str) -> list[ImportResult]:
    results = [ImportResult(filename, "rejected", reason, code)]
    _audit_failure(ctx, filename, results)
    return results


@dataclass
class _Loaded:
    """A readable file: its certificates and the descriptions of its leaves (no query yet)."""

    filename: str
    certificates: list[cx509.Certificate]
    leaves: list[cx509.Certificate]
    infos: list[x509.CertificateInfo]
    has_private_key: bool


def _load(
    ctx: _Context, data: bytes, password: bytes | None, filename: str
) -> _Loaded | list[ImportResult]:
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
        return _reject_file(ctx, filename, *_x509_reason(exc, password, ctx.max_size))
    except ValueError:  # malformed extensions are parsed lazily by cryptography
        return _reject_file(ctx, filename, "corrupt", _message("corrupt"))
    if not leaves:
        return _reject_file(ctx, filename, "ca_certificate", _message("ca_certificate"))
    unique: dict[bytes, cx509.Certificate] = {}
    for leaf in leaves:  # the same certificate twice in a file counts once
        unique.setdefault(x509.certificate_to_der(leaf), leaf)
    try:
        infos = [x509.describe_certificate(c) for c in unique.values()]
    except ValueError:
        return _reject_file(ctx, filename, "corrupt", _message("corrupt"))
    return _Loaded(
        filename, bundle.certificates, list(unique.values()), infos, bundle.private_key is not None
    )


@dataclass
class _Lookups:
    """What the database knows about a batch of files, one query per kind for the batch."""

    registered: dict[str, tuple[int, int, str]]  # fingerprint -> (editor id, pk, serial)
    requests: dict[str, CertificateRequest]  # public key hash -> issuable request
    officines: dict[str, Officine]  # FINESS -> officine of the editor
    live: dict[int, list[Certificate]]  # officine id -> its live certificates
    duplicates: dict[int, list[ImportResult]] = field(default_factory=dict)
    pending: dict[str, Certificate] = field(default_factory=dict)  # waiting for bulk insert
    # (officine id, profile, CN) -> open request whose key is generated on the ANS platform
    ans_requests: dict[tuple[int, str, str], CertificateRequest] = field(default_factory=dict)

    def register(self, certificate: Certificate) -> None:
        """A certificate just written: later files of the batch see it as a duplicate."""
        self.registered[certificate.fingerprint_sha256] = (
            certificate.editor_id,
            certificate.pk,
            certificate.serial,
        )


def _lookups(ctx: _Context, batch: list[_Loaded], *, with_requests: bool) -> _Lookups:
    infos = [info for loaded in batch for info in loaded.infos]
    if not infos:
        return _Lookups({}, {}, {}, {})
    # This editor's only: a fingerprint is unique per editor (another's rows stay unseen).
    rows = (
        Certificate.objects.of_editor(ctx.editor.pk)
        .filter(fingerprint_sha256__in={i.fingerprint_sha256 for i in infos})
        .values_list("fingerprint_sha256", "editor_id", "pk", "serial")
    )
    registered = {fp: (editor_id, pk, serial) for fp, editor_id, pk, serial in rows}
    requests: dict[str, CertificateRequest] = {}
    ans_requests: dict[tuple[int, str, str], CertificateRequest] = {}
    finesses = {i.finess.upper() for i in infos if i.finess}
    if with_requests:
        issuable = CertificateRequest.objects.of_editor(ctx.editor.pk).filter(
            Q(
                status__in=ISSUABLE_STATUSES,
                public_key_sha256__in={i.public_key_sha256 for i in infos},
            )
            | Q(
                key_mode=KeyMode.ANS,
                status__in=ANS_ISSUABLE_STATUSES,
                public_key_sha256="",
                officine__finess__in=finesses,
            )
        )
        for open_request in issuable.order_by("created_at", "id"):  # latest wins
            if open_request.public_key_sha256:
                requests[open_request.public_key_sha256] = open_request
            else:
                key = (open_request.officine_id, open_request.profile, open_request.common_name)
                ans_requests[key] = open_request
    officines = ctx.officines(finesses)
    live = _live_certificates(ctx, (o.pk for o in officines.values()))
    return _Lookups(registered, requests, officines, live, ans_requests=ans_requests)


def _attach_duplicates(ctx: _Context, lookups: _Lookups) -> None:
    """Give duplicate results the existing certificate (one query for the batch)."""
    if not lookups.duplicates:
        return
    existing = Certificate.objects.of_editor(ctx.editor.pk).select_related("officine")
    for certificate in existing.filter(pk__in=lookups.duplicates):
        for result in lookups.duplicates[certificate.pk]:
            result.certificate = certificate


@dataclass
class _Checked:
    """A file whose every certificate passed the checks: what to write, nothing written yet."""

    loaded: _Loaded
    outcomes: list[ImportResult | _Plan]  # duplicates and plans, in file order
    plans: list[_Plan]  # sorted by expiry: older first, so renewals chain in order
    new_officines: dict[str, Officine]


def _check_file(
    ctx: _Context,
    loaded: _Loaded,
    store: x509.TrustStore,
    lookups: _Lookups,
    request: CertificateRequest | None,
) -> _Checked | list[ImportResult]:
    """Every check for every certificate of a file; a refusal rejects the whole file."""
    filename = loaded.filename
    outcomes: list[ImportResult | _Plan | _Rejected] = []
    new_officines: dict[str, Officine] = {}
    claimed: set[int] = set()
    for index, (cert, info) in enumerate(zip(loaded.leaves, loaded.infos, strict=True)):
        pending = lookups.pending.get(info.fingerprint_sha256)
        if pending is not None:  # an earlier file of the batch, waiting for the bulk insert
            message = _message("duplicate", serial=pending.serial)
            outcomes.append(ImportResult(filename, "duplicate", message, "duplicate", pending))
            continue
        owner = lookups.registered.get(info.fingerprint_sha256)
        if owner is not None:
            message = _message("duplicate", serial=owner[2])
            duplicate = ImportResult(filename, "duplicate", message, "duplicate")
            lookups.duplicates.setdefault(owner[1], []).append(duplicate)
            outcomes.append(duplicate)
            continue
        extra = [c for c in loaded.certificates if c is not cert]
        try:
            plan = _analyse(
                ctx,
                store,
                index,
                cert,
                info,
                extra,
                officines=lookups.officines,
                new_officines=new_officines,
                requests=lookups.requests,
                request=request,
                ans_requests=lookups.ans_requests,
            )
            if plan.request is not None:
                if plan.request.pk in claimed:  # two certificates of one key: link the first
                    plan.request = None
                else:
                    claimed.add(plan.request.pk)
            outcomes.append(plan)
        except _Rejected as exc:
            outcomes.append(exc)
        except ValueError:
            outcomes.append(_Rejected("corrupt"))

    if any(isinstance(o, _Rejected) for o in outcomes):
        results = [_as_rejection(o, filename) for o in outcomes]
        _audit_failure(ctx, filename, results)
        return results
    checked = [o for o in outcomes if not isinstance(o, _Rejected)]
    plans = sorted((o for o in checked if isinstance(o, _Plan)), key=lambda p: p.info.not_after)
    if loaded.has_private_key:
        for plan in plans:
            plan.warnings.append(gettext("The private key in this file was not stored."))
    return _Checked(loaded, checked, plans, new_officines)


def _results(checked: _Checked, written: dict[int, ImportResult]) -> list[ImportResult]:
    return [o if isinstance(o, ImportResult) else written[o.index] for o in checked.outcomes]


def _write_file(ctx: _Context, lookups: _Lookups, checked: _Checked) -> list[ImportResult]:
    """Write a checked file in one transaction (a savepoint inside a batch), or nothing."""
    filename = checked.loaded.filename
    written: dict[int, ImportResult] = {}
    if not checked.plans:
        return _results(checked, written)
    try:
        with transaction.atomic():
            for plan in checked.plans:
                written[plan.index] = _write(ctx, lookups, plan, filename)
    except (IntegrityError, ValidationError) as exc:
        for plan in checked.plans:  # in-memory state of these officines no longer matches
            lookups.live.pop(plan.officine.pk, None)
        if isinstance(exc, ValidationError):
            return _reject_file(ctx, filename, "conflict", _message("conflict"))
        # Lost a race with a concurrent import of the same file: report, change nothing.
        return _reject_file(ctx, filename, "already_registered", _message("already_registered"))
    for officine in checked.new_officines.values():
        ctx.remember_officine(officine)
        lookups.officines[officine.finess] = officine
    for plan in checked.plans:  # later files of the batch see what this one wrote
        lookups.register(plan.certificate)
        if plan.request is not None:
            lookups.requests.pop(plan.request.public_key_sha256, None)
            lookups.ans_requests.pop(
                (plan.request.officine_id, plan.request.profile, plan.request.common_name), None
            )
    return _results(checked, written)


def _is_plain(ctx: _Context, lookups: _Lookups, checked: _Checked) -> bool:
    """Nothing but inserts: known officine, no request, nothing to supersede either way."""
    groups = {
        (p.officine.pk, p.info.profile, p.certificate.common_name, p.certificate.environment)
        for p in checked.plans
    }
    if len(groups) < len(checked.plans):  # one file renewing within itself
        return False
    for plan in checked.plans:
        if plan.request is not None or plan.officine.pk is None:
            return False
        plan.certificate.officine = plan.officine
        if _neighbours(ctx, lookups, plan.certificate, None) != (None, None):
            return False
    return True


def _reserve(lookups: _Lookups, checked: _Checked) -> None:
    """Make a file waiting for the bulk insert visible to the next files of the batch."""
    for plan in checked.plans:
        lookups.pending[plan.certificate.fingerprint_sha256] = plan.certificate
        lookups.live[plan.officine.pk].append(plan.certificate)


def _bulk_write(
    ctx: _Context, lookups: _Lookups, waiting: list[tuple[int, _Checked]]
) -> dict[int, list[ImportResult]]:
    """Insert plain files together; on any error, write them one by one instead."""
    certificates = [plan.certificate for _, checked in waiting for plan in checked.plans]
    if not certificates:  # duplicates only
        return {index: _results(checked, {}) for index, checked in waiting}
    for certificate in certificates:  # no longer waiting: registered below, or written again
        lookups.pending.pop(certificate.fingerprint_sha256, None)
    try:
        with transaction.atomic():
            Certificate.objects.bulk_create(certificates)
            coverage_refresh({certificate.officine_id for certificate in certificates})
            for _, checked in waiting:
                for plan in checked.plans:
                    _audit_import(ctx, plan.certificate, checked.loaded.filename)
    except IntegrityError:
        for certificate in certificates:
            lookups.live.pop(certificate.officine_id, None)
            certificate.pk = None
            certificate._state.adding = True
        return {index: _write_file(ctx, lookups, checked) for index, checked in waiting}
    results: dict[int, list[ImportResult]] = {}
    for index, checked in waiting:
        written = {}
        for plan in checked.plans:
            lookups.register(plan.certificate)
            written[plan.index] = ImportResult(
                checked.loaded.filename,
                "imported",
                _message("imported"),
                "imported",
                plan.certificate,
                plan.warnings,
            )
        results[index] = _results(checked, written)
    return results


def _as_rejection(outcome: ImportResult | _Plan | _Rejected, filename: str) -> ImportResult:
    if isinstance(outcome, ImportResult):
        return outcome  # a duplicate stays a duplicate: nothing to change anyway
    if isinstance(outcome, _Rejected):
        return ImportResult(filename, "rejected", outcome.reason, outcome.code)
    return ImportResult(
        filename, "rejected", _message("file_rejected"), "file_rejected", None, outcome.warnings
    )


def _run_batch(
    ctx: _Context,
    batch: list[_Loaded | list[ImportResult]],
    request: CertificateRequest | None,
    *,
    bulk: bool,
) -> list[ImportResult]:
    """Check and write the files of a batch, results in file order.

    With `bulk`, files that only insert (the common case of onboarding) wait and are
    inserted together; any other file first flushes them, so order effects are kept.
    """
    loaded = [item for item in batch if isinstance(item, _Loaded)]
    try:
        store = trust_store() if loaded else None
    except x509.X509Error:
        logger.exception("Cannot load the trust anchors")
        store = None
    lookups = _lookups(ctx, loaded, with_requests=request is None)
    slots: dict[int, list[ImportResult]] = {}
    waiting: list[tuple[int, _Checked]] = []
    for position, item in enumerate(batch):
        if not isinstance(item, _Loaded):
            slots[position] = item
            continue
        if store is None:
            slots[position] = _reject_file(
                ctx, item.filename, "trust_store", _message("trust_store")
            )
            continue
        checked = _check_file(ctx, item, store, lookups, request)
        if not isinstance(checked, _Checked):
            slots[position] = checked
        elif bulk and _is_plain(ctx, lookups, checked):
            _reserve(lookups, checked)
            waiting.append((position, checked))
        else:
            slots.update(_bulk_write(ctx, lookups, waiting))
            waiting = []
            slots[position] = _write_file(ctx, lookups, checked)
    slots.update(_bulk_write(ctx, lookups, waiting))
    _attach_duplicates(ctx, lookups)
    return [result for position in range(len(batch)) for result in slots[position]]


def _run(
    ctx: _Context,
    files: Iterable[tuple[str, bytes]],
    *,
    password: bytes | None,
    request: CertificateRequest | None = None,
    bulk: bool = False,
) -> ImportReport:
    """Files in batches: parsed one by one (their bytes dropped at once), looked up per batch.

    `bulk` commits each batch in one transaction (every file keeps its savepoint, so it
    stays all or nothing) and inserts plain files together: one flush per batch, not per file.
    """
    report = ImportReport()
    batch: list[_Loaded | list[ImportResult]] = []

    def flush() -> None:
        with transaction.atomic() if bulk else nullcontext():
            report.results.extend(_run_batch(ctx, batch, request, bulk=bulk))

    for filename, data in files:
        batch.append(_load(ctx, data, password, filename))
        if len(batch) >= BATCH_SIZE:
            flush()
            batch = []
    if batch:
        flush()
    return report


# --------------------------------------------------------------------------- services


def certificate_import(
    *,
    editor: Editor,
    data: bytes,
    password: bytes | None = None,
    actor: Any = None,
    http_request: HttpRequest | None = None,
    request: CertificateRequest | None = None,
    create_officines: bool = False,
    allow_untrusted: bool = False,
    filename: str = "",
    services: Sequence[str] | None = None,
    loaded: x509.LoadedBundle | x509.X509Error | None = None,
) -> ImportReport:
    """Import the certificates of one uploaded file for `editor`; see the module docstring.

    `request` (already scoped to the editor by the caller) restricts the upload to that
    request: a certificate with another public key is refused (`key_mismatch`).
    `services` adds services to certificates that match no request. `loaded` is what
    `x509.load_bundle` already made of `data` (or its error): the file is not opened twice.
    """
    if request is not None and request.editor_id != editor.pk:
        raise ValueError("the request belongs to another editor")
    ctx = _Context(
        editor=editor,
        actor=actor,
        http_request=http_request,
        create_officines=create_officines,
        allow_untrusted=allow_untrusted,
        services=services,
        preload_officines=False,
    )
    ctx.preloaded = loaded
    return _run(ctx, [(filename, data)], password=password, request=request)


def certificates_import_files(
    *,
    editor: Editor,
    files: Iterable[tuple[str, bytes]],
    password: bytes | None = None,
    actor: Any = None,
    create_officines: bool = False,
    allow_untrusted: bool = False,
    services: Sequence[str] | None = None,
) -> ImportReport:
    """Bulk import (command, benchmark) with the same rules, file by file all or nothing.

    Officines are loaded once; files are looked up, inserted and committed by batches of
    BATCH_SIZE, so a thousand files cost a few hundred queries, not several thousand.
    """
    ctx = _Context(
        editor=editor,
        actor=actor,
        http_request=None,
        create_officines=create_officines,
        allow_untrusted=allow_untrusted,
        services=services,
        preload_officines=True,
    )
    return _run(ctx, files, password=password, bulk=True)
