"""Certificate requests: naming rules, CSR checks, key generation and the request lifecycle.

Every entry point (forms, API, campaigns, renewals) goes through these services, so the
rules of the ANS guide (INSi CN, DMP pair, SERV SSL for operators, key per certificate)
hold whatever the caller. Errors are `ValidationError`s keyed by field, with codes.

Lifecycle: pending → csr_ready → submitted (uploaded to ANS) → issued; cancelled from any
open state. Where the key is made (the guide: "sur le serveur sur lequel le certificat sera
installé"):
- CSR mode (the default): the LGO's CSR, whose private key never reaches the portal; without
  it the request is awaiting_csr until the LGO uploads it (API or request page);
- server mode: the portal generates the key in a Celery task (`csr_generate`);
- ANS mode: the key is generated online on the ANS platform; no CSR, pending → submitted →
  issued, matched when the certificate (often a PKCS#12 from ANS) is imported.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509 as cx509
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from certificates import keystore, x509
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    CertificateRequest,
    KeyMode,
    Profile,
    RenewalCampaign,
    RequestStatus,
    Service,
)
from officines.models import Officine
from officines.validators import validate_insi_common_name
from portal import outbox
from portal.audit import SYSTEM, audit_record
from portal.models import Editor
from portal.permissions import Action, check_may_act, is_portal_user

logger = logging.getLogger(__name__)

# Certificates each service needs (domain.md): what `request_create_for_service` prepares.
PROFILES_FOR_SERVICE: dict[str, tuple[str, ...]] = {
    Service.DMP: (Profile.ORG_SIGN, Profile.ORG_AUTH_CLI),
    Service.INSI: (Profile.ORG_AUTH_CLI,),
    Service.PSC: (Profile.ORG_AUTH_CLI,),
    Service.MSSANTE: (Profile.ORG_AUTH_CLI,),
    Service.ROR: (Profile.ORG_AUTH_CLI,),
    Service.ROC: (Profile.ORG_AUTH_CLI,),
    Service.OTHER: (Profile.ORG_AUTH_CLI,),
}
COMMON_NAME_MAX_LENGTH = 64
MAX_CSR_SIZE = 64 * 1024

# Progress shown while a server-mode request waits for its key.
PROGRESS_QUEUED = 0
PROGRESS_STARTED = 10
PROGRESS_DONE = 100


_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_fully_qualified_domain_name(name: str) -> bool:
    """A host name such as `mss.operateur.fr`: two labels or more, the last alphabetic."""
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    return (
        len(name) <= 253
        and len(labels) >= 2
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
        and labels[-1].isalpha()
    )


def profiles_for_service(*, editor: Editor, service: str) -> tuple[str, ...]:
    """Profiles a request serving `service` may have; MSSanté operators may add SERV SSL."""
    profiles = PROFILES_FOR_SERVICE[Service(service)]
    if service == Service.MSSANTE and editor.is_mssante_operator:
        profiles = (*profiles, Profile.SERV_SSL)
    return tuple(str(p) for p in profiles)


# --------------------------------------------------------------------------- validation


def _error(field: str, message: str, code: str, params: dict | None = None) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code, params=params)})


def _merge(errors: dict[str, list[ValidationError]], exc: ValidationError) -> None:
    for field, messages in exc.error_dict.items():
        errors.setdefault(field, []).extend(messages)


def validate_request_naming(
    *,
    editor: Editor,
    officine: Officine,
    profile: str,
    services: Sequence[str],
    common_name: str,
) -> None:
    """The ANS naming rules for one request; raises one ValidationError listing every field."""
    errors: dict[str, list[ValidationError]] = {}

    def add(field: str, message: str, code: str, params: dict | None = None) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code, params=params))

    if not isinstance(common_name, str):  # None from a careless caller: "required", not a 500
        common_name = ""
    if officine.editor_id != editor.pk:
        add("officine", _("Unknown officine."), "not_found")
    services = _service_codes(services)
    unknown = [s for s in services if s not in Service.values]
    if unknown:
        add(
            "services",
            _("Unknown service: %(services)s."),
            "unknown_service",
            {"services": ", ".join(unknown)},
        )
    if profile not in Profile.values:
        add("profile", _("Unknown certificate profile."), "unknown_profile")

    if Service.INSI in services:
        if len(set(services)) > 1:
            add(
                "services",
                _("An INSi certificate serves INSi alone: request other services separately."),
                "insi_exclusive",
            )
        try:
            validate_insi_common_name(common_name)
        except ValidationError as exc:  # its message explains the mistake; no second one
            errors.setdefault("common_name", []).extend(exc.error_list)
    if "common_name" not in errors:
        _check_common_name(common_name, add)

    if (
        profile == Profile.SERV_SSL
        and "common_name" not in errors
        and not is_fully_qualified_domain_name(common_name)
    ):
        add(
            "common_name",
            _(
                "A SERV SSL certificate names a server: its CN must be a fully qualified "
                "domain name, such as mss.operateur.fr (letters, digits and hyphens, at least "
                "two labels, no wildcard)."
            ),
            "serv_ssl_fqdn",
        )
    if profile == Profile.SERV_SSL and not editor.is_mssante_operator:
        add(
            "profile",
            _("SERV SSL certificates are reserved for MSSanté operators."),
            "serv_ssl_operator_only",
        )
    elif profile in Profile.values and not unknown:
        for service in services:
            if profile not in profiles_for_service(editor=editor, service=service):
                add(
                    "profile",
                    _(
                        "A %(profile)s certificate does not serve %(service)s (expected: %(allowed)s)."
                    ),
                    "profile_service",
                    {
                        "profile": Profile(profile).label,
                        "service": Service(service).label,
                        "allowed": ", ".join(
                            Profile(p).label
                            for p in profiles_for_service(editor=editor, service=service)
                        ),
                    },
                )
    if errors:
        raise ValidationError(errors)


def _service_codes(services: Iterable[str] | str | None) -> list[str]:
    """Sorted distinct codes; a lone string is one code (not its letters)."""
    if not services:
        return []
    if isinstance(services, str):
        services = [services]
    return sorted({str(code) for code in services})


def _check_common_name(common_name: str, add) -> None:
    if not common_name or not common_name.strip():
        add("common_name", _("Give the application name (CN)."), "required")
        return
    # X.509 counts UTF-8 bytes (ub-common-name): an accented letter takes two.
    if len(common_name.encode("utf-8")) > COMMON_NAME_MAX_LENGTH:
        add(
            "common_name",
            _(
                "The application name (CN) has at most %(limit)d characters "
                "(accented letters count twice)."
            ),
            "max_length",
            {"limit": COMMON_NAME_MAX_LENGTH},
        )
    if not common_name.isprintable():
        add(
            "common_name",
            _("The application name (CN) contains a non-printable character."),
            "not_printable",
        )
    elif common_name != common_name.strip():
        add(
            "common_name",
            _("The application name (CN) must not start or end with a space."),
            "whitespace",
        )


def _check_actor_tenant(actor: Any, officine: Officine) -> None:
    """Defensive: callers pass objects found through visible_to, but never act for an officine
    the actor may not order for (`portal.permissions`, Cas 1 / Cas 2)."""
    check_may_act(actor, officine, Action.ORDER)


_CSR_MESSAGES = {
    "empty": lambda: _("The CSR file is empty."),
    "not_a_csr": lambda: _("This file does not contain a CSR (certificate signing request)."),
    "corrupt": lambda: _("The CSR is unreadable (damaged file or unknown format)."),
    "bad_signature": lambda: _("The CSR signature is invalid: the file was altered."),
}


def _allowed_keys() -> dict[str, int]:
    return dict(getattr(settings, "CSR_ALLOWED_KEYS", None) or x509.DEFAULT_ALLOWED_KEYS)


def _load_csr_object(data: bytes) -> cx509.CertificateSigningRequest:
    if b"-----BEGIN " in data:
        return cx509.load_pem_x509_csr(data)
    return cx509.load_der_x509_csr(data)


def _csr_key_error(data: bytes, code: str) -> ValidationError:
    allowed = _allowed_keys()
    accepted = ", ".join(f"{k} ≥ {v} bits" for k, v in allowed.items())
    try:
        key_type, key_size = x509._key_type_and_size(_load_csr_object(data).public_key())
    except ValueError:
        key_type, key_size = "?", 0
    if code == "weak_key":
        message = _(
            "The CSR key (%(type)s, %(size)d bits) is too short: at least %(minimum)d bits."
        )
        params = {"type": key_type, "size": key_size, "minimum": allowed.get(key_type, 0)}
    else:
        message = _("The CSR key type %(type)s is not accepted (accepted: %(accepted)s).")
        params = {"type": key_type, "accepted": accepted}
    return _error("csr", message % params, code)


def expected_subject(officine: Officine, common_name: str) -> dict[str, str]:
    """The subject fields a CSR for this officine and CN must carry (C, ST, O, OU, CN)."""
    return {
        "C": "FR",
        "ST": officine.department_label,
        "O": officine.raison_sociale,
        "OU": officine.structure_identifier,
        "CN": common_name,
    }


_SUBJECT_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}


def _same(field: str, got: str, expected: str) -> bool:
    """Equal after Unicode normalisation (NFC); OU is a structure id, its letters (2A, 2B)
    compare in any case."""
    got, expected = unicodedata.normalize("NFC", got), unicodedata.normalize("NFC", expected)
    if field == "OU":
        return got.upper() == expected.upper()
    return got == expected


def _check_subject(subject: cx509.Name, expected: dict[str, str]) -> None:
    """Every field of the CSR's subject equals what the request expects; the first mismatch
    is refused with the field and both values (codes `csr_<field>_mismatch`)."""
    for field, wanted in expected.items():
        values = [str(a.value) for a in subject.get_attributes_for_oid(_SUBJECT_OIDS[field])]
        got = values[0] if len(values) == 1 else ""
        if len(values) == 1 and _same(field, got, wanted):
            continue
        if not values:
            message = _(
                'The CSR has no %(field)s field; this request expects %(field)s="%(expected)s".'
            )
        elif len(values) > 1:
            got = ", ".join(values)
            message = _(
                'The CSR has several %(field)s fields ("%(got)s"); this request expects one, '
                '%(field)s="%(expected)s".'
            )
        else:
            message = _(
                'The CSR has %(field)s="%(got)s" but this request expects %(field)s="%(expected)s".'
            )
        raise _error(
            "csr",
            message,
            f"csr_{field.lower()}_mismatch",
            {"field": field, "got": got, "expected": wanted},
        )


def validate_csr(
    *,
    csr: bytes,
    officine: Officine,
    common_name: str | None = None,
    exclude_request_id: int | None = None,
) -> x509.CsrInfo:
    """Parse an uploaded CSR and refuse what contradicts the request or reuses a key.

    The subject must be the one the ANS platform expects for this officine (C, ST, O, OU and,
    when the request's CN is known, CN); a mismatch names the field and both values.
    """
    if isinstance(csr, str):
        csr = csr.encode("utf-8")
    if len(csr) > MAX_CSR_SIZE:
        raise _error("csr", _("The CSR file is too large for a CSR."), "too_large")
    try:
        info = x509.load_csr(csr, allowed_keys=_allowed_keys())
    except x509.X509Error as exc:
        if exc.code in ("weak_key", "unsupported_key"):
            raise _csr_key_error(csr, exc.code) from exc
        message = _CSR_MESSAGES.get(exc.code, _CSR_MESSAGES["corrupt"])()
        raise _error("csr", message, exc.code) from exc

    subject = cx509.load_pem_x509_csr(info.pem.encode("ascii")).subject
    expected = expected_subject(officine, common_name or "")
    if common_name is None:
        del expected["CN"]
    _check_subject(subject, expected)
    _check_key_unused(info.public_key_sha256, exclude_request_id=exclude_request_id)
    return info


def _check_key_unused(public_key_hash: str, *, exclude_request_id: int | None = None) -> None:
    """A key certifies once: portal-wide, so the message says nothing about whose it is."""
    requests = CertificateRequest.objects.filter(public_key_sha256=public_key_hash).exclude(
        status=RequestStatus.CANCELLED
    )
    if exclude_request_id is not None:
        requests = requests.exclude(pk=exclude_request_id)
    if requests.exists() or Certificate.objects.filter(public_key_sha256=public_key_hash).exists():
        raise _error(
            "csr",
            _(
                "This CSR's key is already used by another certificate or request: "
                "every certificate, renewals included, needs a new key."
            ),
            "key_reuse",
        )


def _officine_subject(officine: Officine, common_name: str) -> cx509.Name:
    """The DN of a server-mode CSR; raises X509Error when the officine's data cannot make one."""
    return x509.build_subject(
        department=officine.department_label,
        raison_sociale=officine.raison_sociale,
        finess=officine.finess,
        common_name=common_name,
    )


def _invalid_subject_message() -> str:
    return _(
        "The officine's data cannot make a certificate subject (check its "
        "département, raison sociale of at most 64 characters and FINESS)."
    )


def _check_subject_buildable(officine: Officine, common_name: str) -> None:
    """Server mode builds the DN from the officine: refuse now what would fail in the task."""
    try:
        _officine_subject(officine, common_name)
    except (x509.X509Error, ValueError) as exc:
        raise _error("officine", _invalid_subject_message(), "invalid_subject") from exc


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
    services = _service_codes(services)
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
        _merge(errors, exc)
    if not officine.is_active:
        _merge(errors, _error("officine", _("This officine is deactivated."), "inactive"))
    requester_email = str(requester_email or "").strip()
    contact_email = str(contact_email or "").strip() or officine.cc_email
    for field, value, required in (
        ("requester_email", requester_email, True),
        ("contact_email", contact_email, False),
    ):
        if not value:
            if required:
                _merge(errors, _error(field, _("Give the requester's e-mail."), "required"))
            continue
        try:
            validate_email(value)
        except ValidationError:
            _merge(errors, _error(field, _("Enter a valid e-mail address."), "invalid"))
    if renews is not None and renews.officine_id != officine.pk:
        _merge(errors, _error("renews", _("This certificate is not the officine's."), "not_found"))
    if campaign is not None and campaign.editor_id != officine.editor_id:
        _merge(errors, _error("campaign", _("Unknown campaign."), "not_found"))
    if key_mode not in KeyMode.values:
        _merge(errors, _error("key_mode", _("Unknown key mode."), "invalid"))
    elif key_mode != KeyMode.CSR and csr:
        _merge(
            errors,
            _error(
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
    _check_subject_buildable(officine, common_name)
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
        raise _error(
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
        raise _error("service", _("Unknown service."), "unknown_service")
    profiles = PROFILES_FOR_SERVICE[Service(service)]
    if csr and len(profiles) > 1:
        raise _error(
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
        raise _error(
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


# --------------------------------------------------------------------------- key generation


def csr_generate(*, request_id: int) -> CertificateRequest:
    """Generate key + CSR for a server-mode request, once: safe to run twice or concurrently.

    The row is locked while the key is made, so two workers never make two keys; a
    request that already has a CSR (or is no longer pending) is returned unchanged.
    """
    CertificateRequest.objects.filter(
        pk=request_id, status=RequestStatus.PENDING, key_mode=KeyMode.SERVER, csr_pem=""
    ).update(progress=PROGRESS_STARTED, updated_at=timezone.now())
    with transaction.atomic():
        request = (
            CertificateRequest.objects.select_for_update()
            .select_related("officine")
            .get(pk=request_id)
        )
        if (
            request.csr_pem
            or request.status != RequestStatus.PENDING
            or request.key_mode != KeyMode.SERVER
        ):
            return request
        try:
            subject = _officine_subject(request.officine, request.common_name)
            private_key = x509.generate_private_key(
                algorithm=settings.CERTIFICATE_KEY_ALGORITHM,
                key_size=settings.CERTIFICATE_KEY_SIZE,
            )
        except (x509.X509Error, ValueError) as exc:
            # Officine data changed since the request was validated (X509Error, whose text is
            # French only: the user reads the translated message), or bad key settings.
            logger.warning("CSR generation refused for request %s: %s", request_id, exc)
            reason = _invalid_subject_message() if isinstance(exc, x509.X509Error) else str(exc)
            message = _("The key could not be generated: %(reason)s") % {"reason": reason}
            request.error = message[:255]
            request.progress = PROGRESS_QUEUED
            request.save(update_fields=["error", "progress", "updated_at"])
            return request
        request.csr_pem = x509.build_csr(private_key=private_key, subject=subject).decode("ascii")
        request.public_key_sha256 = x509.public_key_sha256(private_key.public_key())
        keystore.encrypt_private_key(private_key=private_key, request=request)
        request.status = RequestStatus.CSR_READY
        request.progress = PROGRESS_DONE
        request.error = ""
        request.save(
            update_fields=[
                "csr_pem",
                "public_key_sha256",
                "encrypted_private_key",
                "key_encryption_key_id",
                "status",
                "progress",
                "error",
                "updated_at",
            ]
        )
        audit_record(
            action="key.generate",
            actor=SYSTEM,
            target=request,
            details={"key_id": request.key_encryption_key_id},
        )
    logger.info("CSR generated for request %s", request_id)
    return request


# --------------------------------------------------------------------------- lifecycle


def _locked(request: CertificateRequest) -> CertificateRequest:
    return CertificateRequest.objects.select_for_update().get(pk=request.pk)


def _refuse_transition(current: str, wanted: str) -> ValidationError:
    return _error(
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
        raise _error("csr", message, "csr_not_expected")
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
        raise _error(
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
