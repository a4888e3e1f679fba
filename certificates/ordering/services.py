"""The write services of certificate requests: create, renew, cancel, submit, upload a CSR, issue.

Every entry point (forms, API, campaigns, renewals) goes through these services, so the
rules of the ANS guide (`naming`, `csr`) hold whatever the caller. Errors are
`ValidationError`s keyed by field, with codes.

Lifecycle: pending → csr_ready → submitted (uploaded to ANS) → issued; cancelled from any
open state. Where the key is made (the guide: "sur le serveur sur lequel le certificat sera
installé"):
- CSR mode (the default): the LGO's CSR, whose private key never reaches the portal; without
  it the request is awaiting_csr until the LGO uploads it (`request_upload_csr`);
- server mode: the portal generates the key in a Celery task (`keygen.csr_generate`);
- ANS mode: the key is generated online on the ANS platform; no CSR, pending → submitted →
  issued, matched when the certificate (often a PKCS#12 from ANS) is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from certificates import keystore
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    CertificateRequest,
    KeyMode,
    RenewalCampaign,
    RequestStatus,
    Service,
)
from certificates.ordering.csr import validate_csr
from certificates.ordering.errors import field_error, merge_errors
from certificates.ordering.keygen import PROGRESS_DONE, PROGRESS_QUEUED
from certificates.ordering.naming import (
    PROFILES_FOR_SERVICE,
    check_subject_buildable,
    service_codes,
    validate_request_naming,
)
from officines.models import Officine
from portal import outbox
from portal.audit import audit_record
from portal.permissions import Action, check_may_act, is_portal_user

logger = logging.getLogger(__name__)


def _check_actor_tenant(actor: Any, officine: Officine) -> None:
    """Defensive: callers pass objects found through visible_to, but never act for an officine
    the actor may not order for (`portal.permissions`, Cas 1 / Cas 2)."""
    check_may_act(actor, officine, Action.ORDER)


# --------------------------------------------------------------------------- creation


class _OpenRenewalExistsError(Exception):
    def __init__(self, existing: CertificateRequest) -> None:
        super().__init__("open renewal exists")
        self.existing = existing


def _open_renewal(certificate: Certificate) -> CertificateRequest | None:
    return (
        CertificateRequest.objects.of_editor(certificate.editor_id)
        .filter(renews=certificate, status__in=OPEN_REQUEST_STATUSES)
        .first()
    )


def _audit(
    action: str,
    request: CertificateRequest,
    actor: Any,
    http_request: HttpRequest | None,
    **details: Any,
) -> None:
    audit_record(
        action=action,
        actor=keystore.audit_actor(actor, http_request),
        target=request,
        request=http_request,
        details=details,
    )


def _enqueue_generation(request_id: int) -> None:
    """Through the outbox: a dead broker delays the generation, it never loses it."""
    outbox.enqueue("certificates.tasks.generate_csr", request_id=request_id)


def _user_or_none(actor: Any) -> Any:
    return actor if is_portal_user(actor) else None


def _validated_request(
    *,
    officine: Officine,
    profile: str,
    services: Iterable[str],
    common_name: str,
    key_mode: str,
    requester_email: str,
    contact_email: str,
    csr: bytes | None,
    renews: Certificate | None,
    campaign: RenewalCampaign | None,
    actor: Any,
) -> CertificateRequest:
    """Every check, no write: returns an unsaved request or raises one ValidationError."""
    _check_actor_tenant(actor, officine)
    services = service_codes(services)
    errors: dict[str, list[ValidationError]] = {}
    try:
        validate_request_naming(
            editor=officine.editor,
            officine=officine,
            profile=profile,
            services=services,
            common_name=common_name,
        )
    except ValidationError as exc:
        merge_errors(errors, exc)
    if not officine.is_active:
        merge_errors(
            errors, field_error("officine", _("This officine is deactivated."), "inactive")
        )
    requester_email = str(requester_email or "").strip()
    contact_email = str(contact_email or "").strip() or officine.cc_email
    for field, value, required in (
        ("requester_email", requester_email, True),
        ("contact_email", contact_email, False),
    ):
        if not value:
            if required:
                merge_errors(
                    errors, field_error(field, _("Give the requester's e-mail."), "required")
                )
            continue
        try:
            validate_email(value)
        except ValidationError:
            merge_errors(errors, field_error(field, _("Enter a valid e-mail address."), "invalid"))
    if renews is not None and renews.officine_id != officine.pk:
        merge_errors(
            errors, field_error("renews", _("This certificate is not the officine's."), "not_found")
        )
    if campaign is not None and campaign.editor_id != officine.editor_id:
        merge_errors(errors, field_error("campaign", _("Unknown campaign."), "not_found"))
    if key_mode not in KeyMode.values:
        merge_errors(errors, field_error("key_mode", _("Unknown key mode."), "invalid"))
    elif key_mode != KeyMode.CSR and csr:
        merge_errors(
            errors,
            field_error(
                "csr",
                _(
                    "A CSR is uploaded only when the key is made where the certificate will "
                    "be installed (CSR mode)."
                ),
                "csr_not_expected",
            ),
        )
    if errors:  # the CSR is judged once the rest is right: its messages assume a sane request
        raise ValidationError(errors)

    request = CertificateRequest(
        editor_id=officine.editor_id,
        officine=officine,
        profile=profile,
        services=services,
        common_name=common_name,
        key_mode=key_mode,
        requester_email=requester_email,
        contact_email=contact_email,
        status=RequestStatus.PENDING,
        progress=PROGRESS_QUEUED,
        renews=renews,
        campaign=campaign,
        created_by=_user_or_none(actor),
    )
    # Every mode needs the subject the ANS platform will put in the certificate: the portal
    # builds it (server), the LGO copies it into its CSR (csr), the worksheet shows it (ans).
    check_subject_buildable(officine, common_name)
    if key_mode == KeyMode.CSR and csr:
        info = validate_csr(csr=csr, officine=officine, common_name=common_name)
        request.csr_pem = info.pem
        request.public_key_sha256 = info.public_key_sha256
        request.status = RequestStatus.CSR_READY
        request.progress = PROGRESS_DONE
    elif key_mode == KeyMode.CSR:
        request.status = RequestStatus.AWAITING_CSR
    # Field rules (lengths, e-mail syntax); relations were checked above without queries.
    request.full_clean(
        exclude=["editor", "officine", "renews", "campaign", "created_by"],
        validate_unique=False,
        validate_constraints=False,
    )
    return request


def _save_new(request: CertificateRequest) -> None:
    """Insert in a savepoint: the open-renewal constraint turns into _OpenRenewalExistsError."""
    try:
        with transaction.atomic():
            request.save(force_insert=True)
    except IntegrityError:
        existing = _open_renewal(request.renews) if request.renews_id else None
        if existing is None:
            raise
        request.pk = None
        logger.info(
            "Concurrent renewal of certificate %s: joined request %s",
            request.renews_id,
            existing.pk,
        )
        raise _OpenRenewalExistsError(existing) from None


def _insert(
    request: CertificateRequest, *, actor: Any, http_request: HttpRequest | None, enqueue: bool
) -> CertificateRequest:
    """Save and audit a validated request; server mode enqueues key generation on commit.

    Raises _OpenRenewalExistsError when a concurrent renewal of the same certificate won.
    """
    with transaction.atomic():
        _save_new(request)
        _audit(
            "request.create",
            request,
            actor,
            http_request,
            profile=request.profile,
            services=request.services,
            key_mode=request.key_mode,
            renews=request.renews_id,
        )
        if request.key_mode == KeyMode.SERVER and enqueue:
            _enqueue_generation(request.pk)
    return request


def request_create(
    *,
    officine: Officine,
    profile: str,
    services: Iterable[str],
    common_name: str,
    key_mode: str,
    requester_email: str,
    contact_email: str = "",
    csr: bytes | None = None,
    renews: Certificate | None = None,
    campaign: RenewalCampaign | None = None,
    actor: Any = None,
    http_request: HttpRequest | None = None,
    enqueue: bool = True,
) -> CertificateRequest:
    """Validate, save and audit one request; server mode enqueues key generation on commit.

    `enqueue=False` leaves a server-mode request pending for a caller that runs
    `csr_generate` itself (campaigns). In CSR mode with a CSR the request is csr_ready.
    """
    request = _validated_request(
        officine=officine,
        profile=profile,
        services=services,
        common_name=common_name,
        key_mode=key_mode,
        requester_email=requester_email,
        contact_email=contact_email,
        csr=csr,
        renews=renews,
        campaign=campaign,
        actor=actor,
    )
    try:
        return _insert(request, actor=actor, http_request=http_request, enqueue=enqueue)
    except _OpenRenewalExistsError as exc:
        raise field_error(
            "renews",
            _("A renewal of this certificate is already in progress."),
            "renewal_exists",
            {"request_id": exc.existing.pk},
        ) from None


def request_create_for_service(
    *,
    officine: Officine,
    service: str,
    common_name: str,
    key_mode: str,
    requester_email: str,
    contact_email: str = "",
    csr: bytes | None = None,
    actor: Any = None,
    http_request: HttpRequest | None = None,
) -> list[CertificateRequest]:
    """Every certificate a service needs (DMP: ORG SIGN + ORG AUTH_CLI), all or none.

    For an MSSanté operator's SERV SSL certificate call `request_create` with that profile.
    """
    if service not in Service.values:
        raise field_error("service", _("Unknown service."), "unknown_service")
    profiles = PROFILES_FOR_SERVICE[Service(service)]
    if csr and len(profiles) > 1:
        raise field_error(
            "csr",
            _(
                "%(service)s needs %(count)d certificates, each with its own key: create the "
                "requests without a CSR, then upload one CSR per request."
            )
            % {"service": Service(service).label, "count": len(profiles)},
            "csr_one_per_request",
        )
    with transaction.atomic():
        return [
            request_create(
                officine=officine,
                profile=profile,
                services=[service],
                common_name=common_name,
                key_mode=key_mode,
                requester_email=requester_email,
                contact_email=contact_email,
                csr=csr,
                actor=actor,
                http_request=http_request,
            )
            for profile in profiles
        ]


def request_create_renewal(
    *,
    certificate: Certificate,
    actor: Any = None,
    key_mode: str | None = None,
    csr: bytes | None = None,
    requester_email: str | None = None,
    contact_email: str | None = None,
    campaign: RenewalCampaign | None = None,
    enqueue: bool = True,
    http_request: HttpRequest | None = None,
) -> CertificateRequest:
    """A new request (new key) replacing `certificate`; returns the open one if it exists.

    Without `key_mode` the renewal keeps the key mode of the certificate it renews
    (`renewal_key_mode`): a key the portal never held is renewed awaiting the LGO's CSR.
    Two operators renewing at once get the same request: the database constraint
    `one_open_renewal_per_certificate` decides and the loser fetches the winner's row.
    """
    _check_actor_tenant(actor, certificate.officine)
    existing = _open_renewal(certificate)
    if existing is not None:
        return existing
    if certificate.revoked_at or certificate.superseded_at:
        raise field_error(
            "renews",
            _("A revoked or replaced certificate is not renewed: create a new request."),
            "not_renewable",
        )
    officine = certificate.officine
    if key_mode is None:
        key_mode = renewal_key_mode(certificate)
    if requester_email is None:
        administrator = officine.technical_administrator
        requester_email = administrator.email if administrator else ""
        requester_email = requester_email or getattr(_user_or_none(actor), "email", "")
    request = _validated_request(
        officine=officine,
        profile=certificate.profile,
        services=certificate.services,
        common_name=certificate.common_name,
        key_mode=key_mode,
        requester_email=requester_email,
        contact_email=contact_email or "",
        csr=csr,
        renews=certificate,
        campaign=campaign,
        actor=actor,
    )
    try:
        return _insert(request, actor=actor, http_request=http_request, enqueue=enqueue)
    except _OpenRenewalExistsError as exc:
        return exc.existing


def renewal_key_mode(certificate: Certificate) -> str:
    """The key mode a renewal of `certificate` keeps: server when the portal made and holds
    its key, ANS when it was generated on the ANS platform, CSR otherwise (an imported
    certificate, a CSR-mode request: the key lives where the certificate is installed)."""
    request = certificate.request if certificate.request_id else None
    if request is not None and request.key_mode == KeyMode.SERVER:
        return KeyMode.SERVER if request.key_encryption_key_id else KeyMode.CSR
    if request is not None and request.key_mode == KeyMode.ANS:
        return KeyMode.ANS
    return KeyMode.CSR


# --------------------------------------------------------------------------- lifecycle


def _locked(request: CertificateRequest) -> CertificateRequest:
    return CertificateRequest.objects.select_for_update().get(pk=request.pk)


def _refuse_transition(current: str, wanted: str) -> ValidationError:
    return field_error(
        "status",
        _('A request in status "%(current)s" cannot become "%(wanted)s".'),
        "invalid_transition",
        {"current": RequestStatus(current).label, "wanted": RequestStatus(wanted).label},
    )


def _copy_state(target: CertificateRequest, source: CertificateRequest, fields: list[str]) -> None:
    for field in fields:
        setattr(target, field, getattr(source, field))


def request_cancel(
    *, request: CertificateRequest, actor: Any = None, http_request: HttpRequest | None = None
) -> CertificateRequest:
    """Stop an open request; an issued or cancelled one stays as it is (error)."""
    _check_actor_tenant(actor, request.officine)
    with transaction.atomic():
        locked = _locked(request)
        if locked.status not in OPEN_REQUEST_STATUSES:
            raise _refuse_transition(locked.status, RequestStatus.CANCELLED)
        locked.status = RequestStatus.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        _audit("request.cancel", locked, actor, http_request)
    _copy_state(request, locked, ["status", "updated_at"])
    return request


def request_mark_submitted(
    *, request: CertificateRequest, actor: Any = None, http_request: HttpRequest | None = None
) -> CertificateRequest:
    """The administrator uploaded the CSR to the ANS platform (only once, from csr_ready), or
    ordered a key generated online there (ANS mode, from pending)."""
    _check_actor_tenant(actor, request.officine)
    with transaction.atomic():
        locked = _locked(request)
        ready = RequestStatus.PENDING if locked.key_mode == KeyMode.ANS else RequestStatus.CSR_READY
        if locked.status != ready:
            raise _refuse_transition(locked.status, RequestStatus.SUBMITTED)
        locked.status = RequestStatus.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["status", "submitted_at", "updated_at"])
        _audit("request.submit", locked, actor, http_request)
    _copy_state(request, locked, ["status", "submitted_at", "updated_at"])
    return request


def request_upload_csr(
    *,
    request: CertificateRequest,
    csr: bytes,
    actor: Any = None,
    http_request: HttpRequest | None = None,
) -> CertificateRequest:
    """Attach the LGO's CSR to a request awaiting it (same checks as at creation, and the
    subject must be the one the request expects, CN included)."""
    _check_actor_tenant(actor, request.officine)
    check_may_act(actor, request)
    if request.key_mode != KeyMode.CSR:
        message = (
            _("This request's key is generated by the portal: no CSR to upload.")
            if request.key_mode == KeyMode.SERVER
            else _("This request's key is generated on the ANS platform: no CSR to upload.")
        )
        raise field_error("csr", message, "csr_not_expected")
    if request.status != RequestStatus.AWAITING_CSR:
        raise _refuse_transition(request.status, RequestStatus.CSR_READY)
    info = validate_csr(
        csr=csr,
        officine=request.officine,
        common_name=request.common_name,
        exclude_request_id=request.pk,
    )
    with transaction.atomic():
        locked = _locked(request)
        if locked.status != RequestStatus.AWAITING_CSR or locked.csr_pem:
            raise _refuse_transition(locked.status, RequestStatus.CSR_READY)
        locked.csr_pem = info.pem
        locked.public_key_sha256 = info.public_key_sha256
        locked.status = RequestStatus.CSR_READY
        locked.progress = PROGRESS_DONE
        locked.save(
            update_fields=["csr_pem", "public_key_sha256", "status", "progress", "updated_at"]
        )
        _audit("request.upload_csr", locked, actor, http_request)
    _copy_state(
        request, locked, ["csr_pem", "public_key_sha256", "status", "progress", "updated_at"]
    )
    return request


def request_mark_issued(
    *, request: CertificateRequest, certificate: Certificate
) -> CertificateRequest:
    """Link an imported certificate to the request holding its key (same public key); an
    ANS-mode request, whose key was made on the ANS platform, takes the certificate's."""
    generated_at_ans = request.key_mode == KeyMode.ANS and not request.public_key_sha256
    if certificate.editor_id != request.editor_id or (
        not generated_at_ans and certificate.public_key_sha256 != request.public_key_sha256
    ):
        raise field_error(
            "certificate",
            _("This certificate does not carry the request's public key."),
            "key_mismatch",
        )
    # No savepoint of its own: a refusal aborts the caller's unit of work (the imported file).
    with transaction.atomic(savepoint=False):
        locked = _locked(request)
        if locked.status == RequestStatus.ISSUED and certificate.request_id == locked.pk:
            _copy_state(request, locked, ["status", "issued_at"])
            return request  # imported twice: nothing to do
        if locked.status not in issuable_statuses(locked.key_mode):
            raise _refuse_transition(locked.status, RequestStatus.ISSUED)
        locked.status = RequestStatus.ISSUED
        locked.issued_at = timezone.now()
        locked.progress = PROGRESS_DONE
        locked.public_key_sha256 = certificate.public_key_sha256
        locked.save(
            update_fields=["status", "issued_at", "progress", "public_key_sha256", "updated_at"]
        )
        certificate.request = locked
        certificate.save(update_fields=["request"])
        _audit("request.issue", locked, None, None, certificate=certificate.pk)
    _copy_state(
        request, locked, ["status", "issued_at", "progress", "public_key_sha256", "updated_at"]
    )
    return request


def issuable_statuses(key_mode: str) -> tuple[str, ...]:
    """Statuses in which a request can receive its certificate: once it has a CSR, or, for a
    key generated on the ANS platform, as soon as it is recorded (the order may be marked
    submitted or not)."""
    if key_mode == KeyMode.ANS:
        return (RequestStatus.PENDING, RequestStatus.SUBMITTED)
    return (RequestStatus.CSR_READY, RequestStatus.SUBMITTED)
