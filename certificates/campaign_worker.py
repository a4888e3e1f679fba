"""The campaign worker: create a campaign's renewal requests and their keys, resumably.

`campaign_run` (the body of `certificates.tasks.run_campaign`) creates the renewal requests
and generates keys and CSRs one certificate at a time, saving progress after each.
Everything it does is idempotent (one open renewal per certificate is a database
constraint, `csr_generate` locks its row and does nothing twice), so a crashed or
duplicated run simply finishes the remaining work.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import BooleanField, Case, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certificates import ordering
from certificates.campaigns import campaign_requests
from certificates.models import (
    CampaignStatus,
    Certificate,
    CertificateRequest,
    KeyMode,
    RenewalCampaign,
    RequestStatus,
)
from portal.tenancy import user_scope


def _completed_count(campaign: RenewalCampaign) -> int:
    """Certificates of the campaign whose renewal request is prepared: the true progress."""
    return (
        campaign_requests(campaign)
        .filter(renews__in=campaign.certificates.all())
        .filter(~Q(csr_pem="") | ~Q(key_mode=KeyMode.SERVER))
        .values("renews_id")
        .distinct()
        .count()
    )


def campaign_run(*, campaign_id: int, time_budget: float | None = None) -> RenewalCampaign:
    """Task body: create missing renewal requests and CSRs, saving progress after each.

    Deliberately not one transaction: each request and each CSR commits on its own
    so progress is visible and a crash loses at most the certificate in hand. With
    `time_budget` (seconds) it stops early and leaves the campaign RUNNING: the task
    re-enqueues itself, so 10,000 key generations never hit the Celery time limit.
    """
    started = time.monotonic()
    campaign = RenewalCampaign.objects.select_related("created_by").get(pk=campaign_id)
    if campaign.status == CampaignStatus.DONE:
        return campaign
    RenewalCampaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.RUNNING, error="", progressed_at=timezone.now()
    )
    actor = campaign.created_by
    if actor is not None and user_scope(actor).editor_id != campaign.editor_id:
        actor = None  # the creator left the editor: the portal finishes the work itself

    certificate_ids = list(campaign.certificates.order_by("pk").values_list("pk", flat=True))
    existing = {
        renews_id: (pk, key_mode, has_csr)
        for renews_id, pk, key_mode, has_csr in campaign_requests(campaign)
        .filter(renews_id__in=campaign.certificates.values("pk"))
        .annotate(
            has_csr=Case(
                When(csr_pem="", then=Value(False)),
                default=Value(True),
                output_field=BooleanField(),
            )
        )
        .order_by("pk")
        .values_list("renews_id", "pk", "key_mode", "has_csr")
    }
    # A renewal the user cancelled inside the campaign is not re-created by a resume.
    cancelled = set(
        CertificateRequest.objects.of_editor(campaign.editor_id)
        .filter(campaign_id=campaign.pk, status=RequestStatus.CANCELLED)
        .values_list("renews_id", flat=True)
    )
    completed = sum(1 for pk in certificate_ids if pk in existing and _prepared(existing[pk]))
    RenewalCampaign.objects.filter(pk=campaign.pk).update(
        completed=completed, progressed_at=timezone.now()
    )
    skipped = progressed = 0
    try:
        for certificate_id in certificate_ids:
            entry = existing.get(certificate_id)
            if entry is not None and _prepared(entry):
                continue  # done before a crash or by an earlier run
            if entry is None and certificate_id in cancelled:
                skipped += 1
                continue
            # Stop only after some progress: skipped certificates are retried by every run,
            # so a run that stopped on them alone would loop forever.
            if progressed and time_budget is not None and time.monotonic() - started > time_budget:
                return _refreshed(campaign)  # still RUNNING: the task enqueues the rest
            if _prepare_one(campaign, certificate_id, entry, actor):
                progressed += 1
                completed += 1
                # The heartbeat rides on the progress UPDATE: no extra query per certificate.
                RenewalCampaign.objects.filter(pk=campaign.pk).update(
                    completed=completed, progressed_at=timezone.now()
                )
            else:
                skipped += 1
    except Exception:
        RenewalCampaign.objects.filter(pk=campaign.pk).update(
            status=CampaignStatus.FAILED,
            error=_("Interrupted by an internal error; resume the campaign to finish it."),
            completed=completed,
        )
        raise
    error = ""
    if skipped:
        error = ngettext(
            "%(count)d certificate could not be prepared (revoked, replaced, cancelled, "
            "invalid officine data or awaiting a CSR).",
            "%(count)d certificates could not be prepared (revoked, replaced, cancelled, "
            "invalid officine data or awaiting a CSR).",
            skipped,
        ) % {"count": skipped}
    RenewalCampaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.DONE,
        completed=_completed_count(campaign),
        error=error[:255],
        finished_at=timezone.now(),
    )
    return _refreshed(campaign)


def _refreshed(campaign: RenewalCampaign) -> RenewalCampaign:
    campaign.refresh_from_db()
    return campaign


def _prepared(entry: tuple[int, str, bool]) -> bool:
    """The campaign's part is done: the portal's key and CSR are made (server mode), or the
    request exists for a key made elsewhere (the LGO's CSR, the ANS platform)."""
    _request_id, key_mode, has_csr = entry
    return has_csr or key_mode != KeyMode.SERVER


def _prepare_one(
    campaign: RenewalCampaign,
    certificate_id: int,
    entry: tuple[int, str, bool] | None,
    actor: Any,
) -> bool:
    """Make sure the certificate has a renewal request with a CSR; False if it cannot."""
    try:
        if entry is None:
            entry = _create_request(campaign, certificate_id, actor)
            if entry is None:
                return False
        if _prepared(entry):
            return True  # a CSR, or a request awaiting the LGO's CSR / the ANS platform's key
        # csr_generate records a refusal (e.g. officine data) on the request, no exception.
        return bool(ordering.csr_generate(request_id=entry[0]).csr_pem)
    except (ValidationError, PermissionDenied):
        return False


def _create_request(
    campaign: RenewalCampaign, certificate_id: int, actor: Any
) -> tuple[int, str, bool] | None:
    """The certificate's renewal request, created for the campaign if there is none."""
    certificate = (
        Certificate.objects.of_editor(campaign.editor_id)
        .select_related("officine")
        .filter(pk=certificate_id)
        .first()
    )
    if certificate is None:
        return None
    # The renewal keeps the certificate's key mode: a key the portal never held is renewed
    # awaiting the CSR of the LGO where the certificate is installed (its agent answers).
    request = ordering.request_create_renewal(
        certificate=certificate,
        actor=actor,
        key_mode=campaign.key_mode or None,
        requester_email=campaign.requester_email,
        contact_email=campaign.contact_email,
        campaign=campaign,
        enqueue=False,
    )
    if request.campaign_id is None:
        # An open renewal made by hand since the campaign was created: adopt it.
        CertificateRequest.objects.of_editor(campaign.editor_id).filter(
            pk=request.pk, campaign__isnull=True
        ).update(campaign=campaign)
    elif request.campaign_id != campaign.pk:
        return None  # another campaign prepares this renewal
    return request.pk, request.key_mode, bool(request.csr_pem)
