"""What pages, the API and monitoring read about revocation checks (no network, no writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BooleanField, Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from certificates.models import Certificate
from certificates.revocation.models import (
    ANS_SOURCES,
    CrlState,
    RevocationCheck,
    RevocationRun,
)


@dataclass(frozen=True)
class RevocationStatus:
    """When a certificate's revocation status was last learnt from IGC Santé, and how."""

    checked_at: datetime | None
    method: str  # "crl", "ocsp" or "" (never checked)
    unknown: bool  # live, the CA tried and unreachable for longer than the threshold
    ocsp_status: str = ""
    crl_next_update: datetime | None = None
    last_error: str = ""
    removed_from_crl_at: datetime | None = None

    @property
    def method_label(self) -> str:
        return {"crl": "IGC Santé (CRL)", "ocsp": "IGC Santé (OCSP)"}.get(self.method, "")


def revocation_status(certificate: Certificate, now: datetime | None = None) -> RevocationStatus:
    """Two small reads: the CA's CRL state and the certificate's own OCSP answer."""
    now = now or timezone.now()
    state = CrlState.objects.filter(issuer_dn=certificate.issuer_dn).first()
    if Certificate.revocation_check.is_cached(certificate):  # select_related by the page
        check = getattr(certificate, "revocation_check", None)
    else:
        check = RevocationCheck.objects.filter(certificate_id=certificate.pk).first()
    crl_at = state.last_success_at if state else None
    ocsp_at = check.ocsp_checked_at if check and check.ocsp_status else None
    checked_at, method = max(
        [(crl_at, "crl"), (ocsp_at, "ocsp")],
        key=lambda pair: pair[0] or datetime.min.replace(tzinfo=now.tzinfo),
    )
    if checked_at is None:
        method = ""
    attempted = bool(
        (state and state.last_attempt_at) or (check and (check.ocsp_checked_at or check.last_error))
    )
    threshold = timedelta(hours=settings.REVOCATION_UNKNOWN_AFTER_HOURS)
    live = certificate.revoked_at is None and certificate.superseded_at is None
    unknown = live and attempted and (checked_at is None or now - checked_at > threshold)
    errors = [
        e for e in ((state.last_error if state else ""), (check.last_error if check else "")) if e
    ]
    return RevocationStatus(
        checked_at=checked_at,
        method=method,
        unknown=unknown,
        ocsp_status=check.ocsp_status if check else "",
        crl_next_update=state.next_update if state else None,
        last_error=errors[0] if errors else "",
        removed_from_crl_at=check.removed_from_crl_at if check else None,
    )


def revoked_by_ans(certificates: QuerySet, *, days: int = 30, now: datetime | None = None):
    """Certificates IGC Santé revoked (learnt by CRL or OCSP) in the last `days` days."""
    now = now or timezone.now()
    return certificates.filter(
        revocation_source__in=list(ANS_SOURCES), revoked_at__gte=now - timedelta(days=days)
    )


def last_successful_run(trigger: str | None = None) -> RevocationRun | None:
    """The last revocation pass where every CRL could be applied (monitoring reads it);
    `trigger="beat"` for the scheduled passes only."""
    runs = RevocationRun.objects.filter(succeeded=True, finished_at__isnull=False)
    if trigger:
        runs = runs.filter(trigger=trigger)
    return runs.order_by("-finished_at").first()


def unreachable_issuers(now: datetime | None = None) -> list[str]:
    """CAs the portal tried and could not learn from for longer than the threshold."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.REVOCATION_UNKNOWN_AFTER_HOURS)
    return list(
        CrlState.objects.filter(last_attempt_at__isnull=False)
        .filter(Q(last_success_at__isnull=True) | Q(last_success_at__lt=since))
        .values_list("issuer_dn", flat=True)
    )


def with_revocation_unknown(certificates: QuerySet, now: datetime | None = None) -> QuerySet:
    """Annotate `revocation_unknown` for lists: live, its CA unreachable too long, and no
    fresh OCSP answer of its own. One small query (the CA states), no join when all is well."""
    now = now or timezone.now()
    stale = unreachable_issuers(now)
    if not stale:
        return certificates.annotate(revocation_unknown=Value(False))
    since = now - timedelta(hours=settings.REVOCATION_UNKNOWN_AFTER_HOURS)
    fresh_ocsp = RevocationCheck.objects.filter(
        certificate=OuterRef("pk"), ocsp_checked_at__gte=since
    ).exclude(ocsp_status="")
    return certificates.annotate(
        revocation_unknown=Case(
            When(
                Q(revoked_at__isnull=True, superseded_at__isnull=True, issuer_dn__in=stale)
                & ~Exists(fresh_ocsp),
                then=Value(True),
            ),
            default=Value(False),
            output_field=BooleanField(),
        )
    )
