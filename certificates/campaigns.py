"""Renewal campaigns: renew many certificates at once and hand ANS one ZIP of CSRs.

`campaign_create` fixes the selection (a many-to-many on the campaign) in the web
request; the worker (`campaign_worker.campaign_run`) then creates the renewal requests
and generates keys and CSRs one certificate at a time, saving progress after each, and
idempotently, so a crashed or duplicated run simply finishes the remaining work.

A run that dies with its message (the broker restarted without persistence, the task
dropped) leaves the campaign PENDING or RUNNING with a heartbeat (`progressed_at`) that
stops moving. `campaigns_revive`, a beat task, re-enqueues such a campaign once its
heartbeat is older than CAMPAIGN_STALL_TIMEOUT (longer than the hard time limit, so a live
run is never doubled); the page offers "Resume" for it too. Should the lost message come back
after all, the second run is harmless, for the reasons above.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from certificates.exports import export_basename, safe_filename_part
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    CampaignStatus,
    Certificate,
    CertificateRequest,
    KeyMode,
    Profile,
    RenewalCampaign,
    RequestStatus,
)
from certificates.offers import ans_offer
from officines.selectors import officine_habilitated_expression, request_ordering_warning
from portal import outbox
from portal.audit import audit_record
from portal.csv_stream import csv_lines, spreadsheet_cell
from portal.events import certificate_event_send
from portal.models import Editor, OutboxMessage
from portal.permissions import PHARMACIEN, is_portal_user, require_editor

logger = logging.getLogger(__name__)

MAX_WITHIN_DAYS = 3 * 366 + 31  # longer than any certificate's validity
WORKSHEET_NAME = "fiche-ans.csv"
_SPOOL_MAX_SIZE = 16 * 1024 * 1024
_CHUNK_SIZE = 64 * 1024
RUN_TASK = "certificates.tasks.run_campaign"
UNFINISHED_STATUSES = (CampaignStatus.PENDING, CampaignStatus.RUNNING)
# --------------------------------------------------------------------------- creation


def _validate(
    *,
    name: str,
    requester_email: str,
    contact_email: str,
    certificate_ids: Iterable[int] | None,
    within_days: int | None,
) -> tuple[set[int] | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Give the campaign a name.")]
    elif len(name) > 200:
        errors["name"] = [_("The name may not exceed 200 characters.")]
    for field, value, required in (
        ("requester_email", requester_email, True),
        ("contact_email", contact_email, False),
    ):
        if not value:
            if required:
                errors[field] = [_("This e-mail address is required by the ANS form.")]
            continue
        try:
            validate_email(value)
        except ValidationError:
            errors[field] = [_("Enter a valid e-mail address.")]
    ids: set[int] | None = None
    if certificate_ids is not None:
        try:
            ids = {int(pk) for pk in certificate_ids}
        except (TypeError, ValueError):
            errors["certificate_ids"] = [_("Invalid certificate selection.")]
    if within_days is not None and (
        isinstance(within_days, bool)
        or not isinstance(within_days, int)
        or not 1 <= within_days <= MAX_WITHIN_DAYS
    ):
        errors["within_days"] = [
            _("Give a number of days between 1 and %(max)d.") % {"max": MAX_WITHIN_DAYS}
        ]
    if certificate_ids is None and within_days is None:
        errors["certificate_ids"] = [
            _("Select certificates, or renew all those expiring within a number of days.")
        ]
    return ids, errors


def _enqueue_run(campaign_id: int) -> None:
    """Through the outbox: a dead broker delays the campaign, it never loses it."""
    outbox.enqueue(RUN_TASK, campaign_id=campaign_id)


@transaction.atomic
def campaign_create(
    *,
    editor: Editor,
    actor: Any,
    name: str,
    requester_email: str,
    contact_email: str = "",
    certificate_ids: Iterable[int] | None = None,
    within_days: int | None = None,
    key_mode: str = "",
    http_request: HttpRequest | None = None,
) -> RenewalCampaign:
    """Fix the selection and enqueue the worker; nothing heavy happens in the web request.

    `key_mode` blank (the default): each renewal keeps the key mode of the certificate it
    renews; `server` (explicit): the portal generates and keeps every new key.

    Ids the actor cannot see (another editor's) are silently ignored, as are revoked
    or replaced certificates. A certificate that already has an open renewal keeps
    it: the request is linked to the campaign (no second request), unless it belongs
    to another campaign already.
    """
    name = (name or "").strip()
    requester_email = (requester_email or "").strip()
    contact_email = (contact_email or "").strip()
    ids, errors = _validate(
        name=name,
        requester_email=requester_email,
        contact_email=contact_email,
        certificate_ids=certificate_ids,
        within_days=within_days,
    )
    if key_mode not in ("", KeyMode.SERVER, KeyMode.CSR):
        errors["key_mode"] = [_("Unknown key mode.")]
    if errors:
        raise ValidationError(errors)
    # The caller's role in *this* editor (portal.permissions); certificates of this editor
    # only, even for a user who also sees another editor's officine as its pharmacist.
    require_editor(actor, "campaigns", "manage", editor.pk)
    certificates = Certificate.objects.of_editor(editor.pk)
    if getattr(actor, "officine_id", None) is not None:  # a key limited to one officine
        certificates = certificates.filter(officine_id=actor.officine_id)
    certificates = certificates.filter(editor_id=editor.pk, officine__is_active=True).live()
    by_officine = certificates.none()
    if getattr(actor, "officine_id", None) is None:
        # Cas 2 (mode pharmacien): the officine renews « sans délégation à l'éditeur ».
        by_officine = certificates.filter(officine__delegation_mode=PHARMACIEN)
        certificates = certificates.exclude(officine__delegation_mode=PHARMACIEN)
    if ids is not None:
        certificates = certificates.filter(pk__in=ids)
        by_officine = by_officine.filter(pk__in=ids)
    now = timezone.now()
    if within_days is not None:
        certificates = certificates.expiring_within(within_days, now=now)
        by_officine = by_officine.expiring_within(within_days, now=now)
    in_other_campaign = CertificateRequest.objects.filter(
        renews_id=OuterRef("pk"), status__in=OPEN_REQUEST_STATUSES, campaign__isnull=False
    )
    rows = list(
        certificates.annotate(busy=Exists(in_other_campaign))
        .order_by("pk")
        .values_list("pk", "busy")
    )
    selected = [pk for pk, busy in rows if not busy]
    if not selected:
        raise ValidationError(
            {"certificate_ids": [_("No certificate to renew in this selection.")]},
            code="empty",
        )
    left_to_officines = list(by_officine.order_by("pk").values_list("pk", flat=True))
    campaign = RenewalCampaign.objects.create(
        editor=editor,
        name=name,
        within_days=within_days,
        requester_email=requester_email,
        contact_email=contact_email,
        key_mode=key_mode,
        total=len(selected),
        created_by=actor if is_portal_user(actor) else None,
    )
    through = RenewalCampaign.certificates.through
    through.objects.bulk_create(
        [through(renewalcampaign_id=campaign.pk, certificate_id=pk) for pk in selected],
        batch_size=1000,
    )
    linked = (
        CertificateRequest.objects.of_editor(editor.pk)
        .filter(
            renews__in=campaign.certificates.all(),
            status__in=OPEN_REQUEST_STATUSES,
            campaign__isnull=True,
        )
        .update(campaign=campaign)
    )
    audit_record(
        action="campaign.create",
        actor=actor,
        editor=editor,
        target=campaign,
        request=http_request,
        details={
            "certificates": len(selected),
            "within_days": within_days,
            "key_mode": key_mode,
            "linked_open_requests": linked,
            "in_other_campaign": len(rows) - len(selected),
            "ignored_ids": len(ids) - len(rows) if ids is not None else 0,
            "renew_by_officine": len(left_to_officines),
        },
    )
    for certificate_id in left_to_officines:  # their pharmacists are told (notifications)
        certificate_event_send(
            editor_id=editor.pk,
            event="certificate.renew_by_officine",
            certificate_id=certificate_id,
            context={"campaign": campaign.name},
        )
    _enqueue_run(campaign.pk)
    return campaign


@transaction.atomic
def campaign_resume(
    *, campaign: RenewalCampaign, actor: Any, http_request: HttpRequest | None = None
) -> RenewalCampaign:
    """Enqueue the worker again for a failed or stalled campaign; it only does what is left.

    A campaign still making progress is refused: its run is alive (or its next slice queued),
    and a second one would only compete with it.
    """
    require_editor(actor, "campaigns", "manage", campaign.editor_id)
    if campaign.status == CampaignStatus.DONE:
        raise ValidationError(_("This campaign is already finished."), code="done")
    if campaign.status in UNFINISHED_STATUSES and campaign_stalled_since(campaign) is None:
        raise ValidationError(
            _(
                "This campaign is in progress; it can be resumed once it has made no "
                "progress for %(minutes)d minutes."
            )
            % {"minutes": stall_minutes()},
            code="running",
        )
    audit_record(action="campaign.resume", actor=actor, target=campaign, request=http_request)
    campaign_id = campaign.pk
    _enqueue_run(campaign_id)
    return campaign


# --------------------------------------------------------------------------- stalled campaigns


def stall_timeout() -> timedelta:
    """No heartbeat for this long: the campaign's task is lost (not merely slow)."""
    default = int(getattr(settings, "CELERY_TASK_TIME_LIMIT", 900)) + 300
    return timedelta(seconds=int(getattr(settings, "CAMPAIGN_STALL_TIMEOUT", default)))


def stall_minutes() -> int:
    return max(1, round(stall_timeout().total_seconds() / 60))


def campaign_heartbeat(campaign: RenewalCampaign) -> datetime:
    """Last sign of life of the worker; a campaign never started counts from its creation."""
    return campaign.progressed_at or campaign.created_at


def campaign_stalled_since(
    campaign: RenewalCampaign, *, now: datetime | None = None
) -> datetime | None:
    """The heartbeat of a pending or running campaign that stopped progressing, else None."""
    if campaign.status not in UNFINISHED_STATUSES:
        return None
    heartbeat = campaign_heartbeat(campaign)
    now = now or timezone.now()
    return heartbeat if heartbeat < now - stall_timeout() else None


def _stalled_ids(cutoff: datetime) -> list[int]:
    # Maintenance over every editor (like the outbox drain): no user, no tenant scope; the
    # campaigns are only re-enqueued, each run works within its own editor.
    return list(
        RenewalCampaign.objects.filter(status__in=UNFINISHED_STATUSES)
        .filter(Q(progressed_at__lt=cutoff) | Q(progressed_at__isnull=True, created_at__lt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _awaited_ids(cutoff: datetime) -> set[int]:
    """Campaigns with a run message still to come: waiting in the outbox (the drain sends
    it) or handed to the broker since `cutoff` (queued behind other tasks, or running)."""
    recent = OutboxMessage.objects.filter(task=RUN_TASK).filter(
        Q(sent_at__isnull=True) | Q(sent_at__gte=cutoff)
    )
    return {kwargs.get("campaign_id") for kwargs in recent.values_list("kwargs", flat=True)}


@transaction.atomic
def campaigns_revive(*, now: datetime | None = None) -> list[int]:
    """Re-enqueue every PENDING/RUNNING campaign whose heartbeat is older than the stall
    timeout (its task was lost); returns their ids. Run by beat (`revive_campaigns`).

    Through the outbox, so a dead broker delays the revival and never loses it. A campaign
    whose run message is still waiting in the outbox, or was handed to the broker within
    the timeout (by a resume or an earlier revival), is left alone: one revival per stall
    timeout at most, so a broker without workers does not pile messages up.
    """
    now = now or timezone.now()
    cutoff = now - stall_timeout()
    stalled = _stalled_ids(cutoff)
    if not stalled:
        return []
    awaited = _awaited_ids(cutoff)
    revived = [pk for pk in stalled if pk not in awaited]
    campaigns = RenewalCampaign.objects.in_bulk(revived)
    for pk in revived:
        campaign = campaigns[pk]
        audit_record(
            action="campaign.revive",
            target=campaign,
            details={
                "stalled_since": campaign_heartbeat(campaign).isoformat(),
                "completed": campaign.completed,
                "total": campaign.total,
            },
        )
        _enqueue_run(pk)
    if revived:
        logger.warning("Re-enqueued %d stalled renewal campaign(s): %s", len(revived), revived)
    return revived


# --------------------------------------------------------------------------- requests


def campaign_requests(campaign: RenewalCampaign):
    """The campaign's renewal requests, cancelled ones left out."""
    return (
        CertificateRequest.objects.of_editor(campaign.editor_id)
        .filter(campaign_id=campaign.pk)
        .exclude(status=RequestStatus.CANCELLED)
    )


# --------------------------------------------------------------------------- ZIP for ANS


@dataclass(frozen=True)
class CampaignEntry:
    filename: str
    csr_pem: str
    row: list[str]


def worksheet_header() -> list[str]:
    """Columns of the ANS ordering form, per certificate (plus what helps the operator)."""
    return [
        _("Geographic FINESS"),
        _("Legal name (raison sociale)"),
        _("Offer"),
        _("Profile"),
        _("Application service (CN)"),
        _("Requester e-mail"),
        _("E-mail of a person to inform"),
        _("CSR file"),
        _("Renewed certificate (serial number)"),
        _("Renewed certificate expires on"),
        _("Technical administrator habilitation"),
    ]


def campaign_entries(campaign: RenewalCampaign) -> Iterator[CampaignEntry]:
    """Each CSR of the campaign with its file name and worksheet row, in one query."""
    requests = (
        campaign_requests(campaign)
        .exclude(csr_pem="")
        .select_related("officine", "renews")
        .annotate(officine_habilitated=officine_habilitated_expression("officine_id"))
        .defer("encrypted_private_key", "renews__pem", "renews__chain_pem")
        .order_by("officine__finess", "profile", "common_name", "pk")
    )
    used: dict[str, int] = {}
    for request in requests.iterator(chunk_size=1000):
        base = export_basename(
            finess=request.officine.finess,
            profile=request.profile,
            common_name=request.common_name,
        )
        used[base] = used.get(base, 0) + 1
        filename = f"{base}.csr" if used[base] == 1 else f"{base}_{used[base]}.csr"
        renews = request.renews
        row = [
            request.officine.finess,
            spreadsheet_cell(request.officine.raison_sociale),
            ans_offer(request.profile),
            str(Profile(request.profile).label),
            spreadsheet_cell(request.common_name),
            request.requester_email,
            request.contact_email,
            filename,
            renews.serial if renews else "",
            timezone.localdate(renews.usable_until).isoformat() if renews else "",
            request_ordering_warning(request) or pgettext("habilitation", "Habilitated"),
        ]
        yield CampaignEntry(filename=filename, csr_pem=request.csr_pem, row=row)


def campaign_worksheet_rows(campaign: RenewalCampaign) -> list[list[str]]:
    """The worksheet, header first: one row per CSR in the ZIP."""
    return [worksheet_header(), *(entry.row for entry in campaign_entries(campaign))]


def worksheet_csv(rows: Iterable[list[str]]) -> bytes:
    """`;`-separated UTF-8 with BOM: what French Excel opens without an import wizard."""
    return "".join(csv_lines(rows)).encode("utf-8")


def campaign_zip_write(campaign: RenewalCampaign, fileobj: Any) -> int:
    """Write the ZIP (CSRs + fiche-ans.csv) to a seekable file; returns the number of CSRs."""
    rows = [worksheet_header()]
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in campaign_entries(campaign):
            archive.writestr(entry.filename, entry.csr_pem)
            rows.append(entry.row)
        archive.writestr(WORKSHEET_NAME, worksheet_csv(rows))
    return len(rows) - 1


def campaign_zip(campaign: RenewalCampaign, *, chunk_size: int = _CHUNK_SIZE) -> Iterator[bytes]:
    """The ZIP as chunks for a StreamingHttpResponse; spooled to disk past 16 MiB."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_SIZE) as spool:
        campaign_zip_write(campaign, spool)
        spool.seek(0)
        while chunk := spool.read(chunk_size):
            yield chunk


def campaign_zip_filename(campaign: RenewalCampaign) -> str:
    return f"campagne-{campaign.pk}-{safe_filename_part(campaign.name)}.zip"


def campaign_export(
    *, campaign: RenewalCampaign, actor: Any, http_request: HttpRequest | None = None
) -> Iterator[bytes]:
    """Audited download of the campaign ZIP (CSRs are public, but every export is audited)."""
    audit_record(
        action="campaign.download",
        actor=actor,
        target=campaign,
        request=http_request,
        details={"completed": campaign.completed, "total": campaign.total},
    )
    return campaign_zip(campaign)
