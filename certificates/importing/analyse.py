"""Check every certificate of a read file and plan its writing, without writing anything.

Profile, chain (against the trust store), officine (found or to create), the request it
answers: a refusal rejects the whole file; what passes becomes a `Plan` for `write`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509 as cx509
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext

from certificates import x509
from certificates.importing.audit import audit_failure
from certificates.importing.context import ImportContext, Lookups
from certificates.importing.outcomes import ImportResult, Rejected, result_message
from certificates.importing.reading import Loaded
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    CertificateRequest,
    ChainStatus,
    KeyMode,
    Profile,
    RequestStatus,
    Service,
)
from certificates.ordering import issuable_statuses
from officines import identifiers
from officines.models import Environment, Officine

# A request can receive its certificate once it has a key (CSR) and until it is issued;
# one whose key is generated on the ANS platform, as soon as it is recorded.
ISSUABLE_STATUSES = (RequestStatus.CSR_READY, RequestStatus.SUBMITTED)
ANS_ISSUABLE_STATUSES = issuable_statuses(KeyMode.ANS)


@dataclass
class Plan:
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
    ctx: ImportContext,
    store: x509.TrustStore,
    cert: cx509.Certificate,
    info: x509.CertificateInfo,
    extra: list[cx509.Certificate],
    warnings: list[str],
) -> tuple[x509.ChainResult, ChainStatus]:
    """The validated chain and the status to store; raises `Rejected` for refused chains."""
    chain = x509.validate_chain(cert, extra=extra, store=store)
    if chain.status == x509.ChainStatus.NOT_ORGANISATION:
        raise Rejected("not_organisation")
    foreign = chain.status == x509.ChainStatus.UNTRUSTED or (
        chain.status == x509.ChainStatus.INCOMPLETE and not _looks_like_igc_sante(cert, info)
    )
    if foreign:
        if not ctx.allow_untrusted:
            raise Rejected("untrusted_chain", issuer=_issuer_cn(cert))
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
        raise Rejected("request_closed", status=request.get_status_display())
    if request.key_mode == KeyMode.ANS and not request.public_key_sha256:
        if request.status not in ANS_ISSUABLE_STATUSES:
            raise Rejected("request_not_ready")
        return  # the key was made on the ANS platform: the certificate brings it
    if request.status not in ISSUABLE_STATUSES or not request.public_key_sha256:
        raise Rejected("request_not_ready")
    if request.public_key_sha256 != info.public_key_sha256:
        raise Rejected("key_mismatch")


def _new_officine(
    ctx: ImportContext, info: x509.CertificateInfo, finess: str, environment: str
) -> Officine:
    """Officine built from the certificate's subject; validated now, saved only if all passes."""
    if not info.organisation:
        raise Rejected(
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
        raise Rejected("invalid_officine", finess=finess, errors=" ".join(exc.messages)) from exc
    return officine


def _analyse(
    ctx: ImportContext,
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
) -> Plan:
    """Every check for one certificate; raises `Rejected`, writes nothing."""
    warnings: list[str] = []
    if request is not None:
        _check_request(request, info)
    if info.profile is None:
        raise Rejected("unknown_profile")
    chain, chain_status = _check_chain(ctx, store, cert, info, extra, warnings)

    if not info.finess:
        raise Rejected("no_finess")
    finess = info.finess.upper()
    officine = officines.get(finess) or new_officines.get(finess)
    if officine is None:
        if not ctx.create_officines:
            raise Rejected("unknown_officine", finess=finess)
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
            raise Rejected("officine_mismatch", finess=finess)
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
        raise Rejected("invalid_certificate", errors=" ".join(exc.messages)) from exc
    return Plan(index, info, certificate, officine, matched, warnings)


@dataclass
class Checked:
    """A file whose every certificate passed the checks: what to write, nothing written yet."""

    loaded: Loaded
    outcomes: list[ImportResult | Plan]  # duplicates and plans, in file order
    plans: list[Plan]  # sorted by expiry: older first, so renewals chain in order
    new_officines: dict[str, Officine]


def check_file(
    ctx: ImportContext,
    loaded: Loaded,
    store: x509.TrustStore,
    lookups: Lookups,
    request: CertificateRequest | None,
) -> Checked | list[ImportResult]:
    """Every check for every certificate of a file; a refusal rejects the whole file."""
    filename = loaded.filename
    outcomes: list[ImportResult | Plan | Rejected] = []
    new_officines: dict[str, Officine] = {}
    claimed: set[int] = set()
    for index, (cert, info) in enumerate(zip(loaded.leaves, loaded.infos, strict=True)):
        pending = lookups.pending.get(info.fingerprint_sha256)
        if pending is not None:  # an earlier file of the batch, waiting for the bulk insert
            message = result_message("duplicate", serial=pending.serial)
            outcomes.append(ImportResult(filename, "duplicate", message, "duplicate", pending))
            continue
        owner = lookups.registered.get(info.fingerprint_sha256)
        if owner is not None:
            message = result_message("duplicate", serial=owner[2])
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
        except Rejected as exc:
            outcomes.append(exc)
        except ValueError:
            outcomes.append(Rejected("corrupt"))

    if any(isinstance(o, Rejected) for o in outcomes):
        results = [_as_rejection(o, filename) for o in outcomes]
        audit_failure(ctx, filename, results)
        return results
    checked = [o for o in outcomes if not isinstance(o, Rejected)]
    plans = sorted((o for o in checked if isinstance(o, Plan)), key=lambda p: p.info.not_after)
    if loaded.has_private_key:
        for plan in plans:
            plan.warnings.append(gettext("The private key in this file was not stored."))
    return Checked(loaded, checked, plans, new_officines)


def _as_rejection(outcome: ImportResult | Plan | Rejected, filename: str) -> ImportResult:
    if isinstance(outcome, ImportResult):
        return outcome  # a duplicate stays a duplicate: nothing to change anyway
    if isinstance(outcome, Rejected):
        return ImportResult(filename, "rejected", outcome.reason, outcome.code)
    return ImportResult(
        filename,
        "rejected",
        result_message("file_rejected"),
        "file_rejected",
        None,
        outcome.warnings,
    )
