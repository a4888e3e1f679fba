"""Celery tasks of the certificates app: thin wrappers over services, taking ids only.

Keep each helper's tasks grouped; key generation (ordering.keygen) comes first.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from certificates.campaign_worker import campaign_run
from certificates.campaigns import campaigns_revive
from certificates.coverage import coverage_repair
from certificates.models import CampaignStatus, Certificate, CertificateRequest, RenewalCampaign
from certificates.ordering import csr_generate
from certificates.request_revival import GENERATION_TIME_LIMIT, requests_revive
from certificates.revocation.services import certificate_revocation_check, revocation_pass
from portal import outbox
from portal.models import User

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- keys and CSRs


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    # Seconds, not CELERY_TASK_TIME_LIMIT's 15 minutes: revive_requests counts on it.
    time_limit=GENERATION_TIME_LIMIT,
    soft_time_limit=GENERATION_TIME_LIMIT - 10,
)
def generate_csr(self, request_id: int) -> None:
    """Make the key pair and CSR of a server-mode request; safe to run twice (idempotent)."""
    try:
        csr_generate(request_id=request_id)
    except CertificateRequest.DoesNotExist:
        logger.info("CSR generation skipped: request %s no longer exists", request_id)


@shared_task(acks_late=True)
def revive_requests() -> list[int]:
    """Beat: re-enqueue key generations whose worker died (certificates.request_revival)."""

    return requests_revive()


# --------------------------------------------------------------------------- renewal campaigns

# Seconds of work per task run, well under CELERY_TASK_SOFT_TIME_LIMIT: a large campaign
# continues in a fresh task instead of being killed mid-way.
CAMPAIGN_TIME_BUDGET = 5 * 60


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def run_campaign(self, campaign_id: int) -> None:
    """Prepare a campaign's renewals (requests, keys, CSRs); resumes where a run stopped."""

    try:
        campaign = campaign_run(campaign_id=campaign_id, time_budget=CAMPAIGN_TIME_BUDGET)
    except RenewalCampaign.DoesNotExist:
        logger.info("Campaign run skipped: campaign %s no longer exists", campaign_id)
        return
    if campaign.status == CampaignStatus.RUNNING:
        # The next slice goes through the outbox too: a broker hiccup cannot strand it.

        outbox.enqueue("certificates.tasks.run_campaign", campaign_id=campaign_id)


@shared_task(acks_late=True)
def revive_campaigns() -> list[int]:
    """Beat: re-enqueue campaigns whose task was lost (no progress for CAMPAIGN_STALL_TIMEOUT).

    No retry: the next beat tick is the retry, and a campaign it misses is still stalled then.
    """

    return campaigns_revive()


# --------------------------------------------------------------------------- coverage


@shared_task(acks_late=True)
def repair_coverage() -> list[int]:
    """Beat, nightly: refresh any officine whose stored coverage drifted (coverage_repair)."""

    return coverage_repair()


# --------------------------------------------------------------------------- revocation (IGC Santé)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def check_revocation() -> dict:
    """Beat (REVOCATION_CHECK_INTERVAL_HOURS): every CA's CRL, OCSP as a fallback. Safe to run
    twice: a CRL already applied revokes nothing more."""

    run, report = revocation_pass()
    return {"run": run.pk, "failed": report.failed, "revoked": len(report.revoked)}


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def check_certificate_revocation(certificate_id: int, user_id: int | None = None) -> str:
    """The certificate page's « Vérifier auprès de l'IGC Santé »: OCSP, else its CA's CRL."""

    certificate = Certificate.objects.filter(pk=certificate_id).first()
    if certificate is None:
        return "gone"
    actor = User.objects.filter(pk=user_id).first() if user_id else None
    return certificate_revocation_check(certificate=certificate, actor=actor).status
