"""Stalled renewal campaigns: the heartbeat, the beat task that re-enqueues a campaign whose
task was lost, and the page's "stalled since" notice with its Resume button.

Keys are real (EC P-256, fast). "Lost" is simulated the way it happens: the run message was
handed to the broker (`sent_at` set) and nothing ever ran it; time passes by moving the
campaign's heartbeat back past the stall timeout. The real SIGKILL + lost message scenario,
with worker processes and Redis, is tests/reliability/test_campaign_lost_message.py.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from celery.utils.imports import symbol_by_name
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from certificates import campaigns
from certificates import ordering as requests
from certificates.campaign_worker import campaign_run
from certificates.campaigns import (
    RUN_TASK,
    campaign_stalled_since,
    campaigns_revive,
    stall_timeout,
)
from certificates.models import CampaignStatus, CertificateRequest, RenewalCampaign
from portal.celery import app as celery_app
from portal.models import AuditEvent, OutboxMessage
from tests.factories import OfficineFactory
from tests.helpers.campaigns import assert_each_certificate_renewed_once, create
from tests.helpers.workers import point_celery_to
from tests.ui.certificate_support import htmx
from tests.ui.html_checker import assert_valid_html

pytestmark = pytest.mark.django_db

CERTIFICATES = 4


@pytest.fixture
def expiring(tenant_a, make_certificate):
    """Certificates of tenant A expiring within 30 days, each on its own officine."""
    now = timezone.now()
    officines = [tenant_a.officine] + [
        OfficineFactory(editor=tenant_a.editor) for _ in range(CERTIFICATES - 1)
    ]
    return [
        make_certificate(o, not_after=now + timedelta(days=10 + i)) for i, o in enumerate(officines)
    ]


def run_messages(campaign=None):
    messages = OutboxMessage.objects.filter(task=RUN_TASK)
    if campaign is not None:
        messages = messages.filter(kwargs__campaign_id=campaign.pk)
    return messages


def lose_messages(campaign) -> None:
    """The run messages were handed to the broker, which then lost them (long ago)."""
    long_ago = timezone.now() - stall_timeout() - timedelta(minutes=5)
    run_messages(campaign).update(sent_at=long_ago)


def stall(campaign, *, status=CampaignStatus.RUNNING, minutes_past=1):
    """Move the campaign's heartbeat back past the stall timeout."""
    beat = timezone.now() - stall_timeout() - timedelta(minutes=minutes_past)
    RenewalCampaign.objects.filter(pk=campaign.pk).update(
        status=status, progressed_at=beat, created_at=beat - timedelta(minutes=1)
    )
    lose_messages(campaign)
    campaign.refresh_from_db()
    return campaign


def freshen(campaign, *, status=CampaignStatus.RUNNING):
    RenewalCampaign.objects.filter(pk=campaign.pk).update(
        status=status, progressed_at=timezone.now()
    )
    campaign.refresh_from_db()
    return campaign


# --------------------------------------------------------------------------- heartbeat


def test_heartbeat_moves_with_each_certificate_in_the_progress_update(
    tenant_a, expiring, fast_keys, monkeypatch
):
    campaign = create(tenant_a, certificate_ids=[c.pk for c in expiring])
    assert campaign.progressed_at is None  # never ran: the heartbeat counts from creation
    seen = []
    real = requests.csr_generate

    def observed(*, request_id):
        row = RenewalCampaign.objects.values("status", "completed", "progressed_at").get(
            pk=campaign.pk
        )
        seen.append(row)
        return real(request_id=request_id)

    monkeypatch.setattr(requests, "csr_generate", observed)
    started = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        campaign_run(campaign_id=campaign.pk)
    # Set when the run starts, then with each certificate prepared.
    assert [row["completed"] for row in seen] == list(range(CERTIFICATES))
    beats = [row["progressed_at"] for row in seen]
    assert all(b is not None and b >= started for b in beats)
    assert beats == sorted(beats)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE and campaign.progressed_at >= beats[-1]
    # The heartbeat rides on the UPDATE that saves `completed`: one campaign UPDATE per
    # certificate, plus the start (status), the initial count and the final DONE.
    table = RenewalCampaign._meta.db_table
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    updates = [sql for sql in updates if re.match(rf'UPDATE "?{table}"? SET', sql)]
    assert len(updates) == CERTIFICATES + 3, updates
    per_certificate = updates[2 : 2 + CERTIFICATES]
    assert all('"completed"' in sql and '"progressed_at"' in sql for sql in per_certificate)


def test_default_stall_timeout_outlasts_a_live_task():
    assert stall_timeout() > timedelta(seconds=django_settings.CELERY_TASK_TIME_LIMIT)
    assert django_settings.CAMPAIGN_STALL_TIMEOUT >= django_settings.CELERY_TASK_TIME_LIMIT + 60


def test_beat_schedules_the_revive_task():
    entry = django_settings.CELERY_BEAT_SCHEDULE["revive-stalled-campaigns"]
    task = symbol_by_name(entry["task"])
    assert task.name == entry["task"] and task.name in celery_app.tasks
    # Often enough that a stall is noticed well within one more timeout.
    assert entry["schedule"] <= stall_timeout().total_seconds() / 2


# --------------------------------------------------------------------------- revive service


def test_only_stalled_unfinished_campaigns_are_revived(tenant_a, make_certificate, expiring):
    def campaign_of(certificate):
        return create(tenant_a, certificate_ids=[certificate.pk])

    stalled_running = stall(campaign_of(expiring[0]))
    stalled_pending = stall(campaign_of(expiring[1]), status=CampaignStatus.PENDING)
    RenewalCampaign.objects.filter(pk=stalled_pending.pk).update(progressed_at=None)
    fresh_running = freshen(campaign_of(expiring[2]))
    lose_messages(fresh_running)
    fresh_pending = campaign_of(expiring[3])  # just created: its message may still be queued
    lose_messages(fresh_pending)
    extra = [
        make_certificate(OfficineFactory(editor=tenant_a.editor), not_after=expiring[0].not_after)
        for _ in range(2)
    ]
    done = stall(campaign_of(extra[0]), status=CampaignStatus.DONE)
    failed = stall(campaign_of(extra[1]), status=CampaignStatus.FAILED)
    before = run_messages().count()

    revived = campaigns_revive()

    assert revived == sorted([stalled_running.pk, stalled_pending.pk])
    assert run_messages().count() == before + 2
    for campaign in (stalled_running, stalled_pending):
        assert run_messages(campaign).filter(sent_at__isnull=True).count() == 1  # via the outbox
        event = AuditEvent.objects.get(action="campaign.revive", target_id=str(campaign.pk))
        assert event.actor is None and event.editor_id == tenant_a.editor.pk
    for campaign in (fresh_running, fresh_pending, done, failed):
        assert run_messages(campaign).count() == 1  # only the one from its creation
    # FAILED keeps its error and its button: an internal error is not retried blindly.
    assert RenewalCampaign.objects.get(pk=failed.pk).status == CampaignStatus.FAILED


def test_stalled_since_is_the_heartbeat_or_the_creation(tenant_a, expiring):
    campaign = create(tenant_a, certificate_ids=[expiring[0].pk])
    assert campaign_stalled_since(campaign) is None
    later = timezone.now() + stall_timeout() + timedelta(seconds=1)
    assert campaign_stalled_since(campaign, now=later) == campaign.created_at
    campaign = stall(campaign)
    assert campaign_stalled_since(campaign) == campaign.progressed_at
    for status in (CampaignStatus.DONE, CampaignStatus.FAILED):
        campaign.status = status
        assert campaign_stalled_since(campaign) is None


def test_a_campaign_on_its_way_is_not_revived_twice(tenant_a, expiring):
    campaign = stall(create(tenant_a, certificate_ids=[c.pk for c in expiring]))
    # Its creation message still waits in the outbox (broker down): the drain will send it.
    run_messages(campaign).update(sent_at=None)
    assert campaigns_revive() == []
    # Sent a moment ago (say by a resume): it is in the queue, not lost.
    run_messages(campaign).update(sent_at=timezone.now() - timedelta(seconds=30))
    assert campaigns_revive() == []
    # Sent longer ago than the timeout and still no heartbeat: lost.
    lose_messages(campaign)
    assert campaigns_revive() == [campaign.pk]
    # The revival's own message waits in the outbox, then is sent: no second one meanwhile.
    assert campaigns_revive() == []
    run_messages(campaign).filter(sent_at__isnull=True).update(sent_at=timezone.now())
    assert campaigns_revive() == []
    assert run_messages(campaign).count() == 2
    assert AuditEvent.objects.filter(action="campaign.revive").count() == 1


def test_revived_campaign_finishes_without_duplicates(
    tenant_a, expiring, fast_keys, eager, django_capture_on_commit_callbacks
):
    campaign = create(tenant_a, certificate_ids=[c.pk for c in expiring])
    # One slice ran (one certificate), then its next message and the worker vanished.
    campaign = campaign_run(campaign_id=campaign.pk, time_budget=0)
    assert campaign.status == CampaignStatus.RUNNING and campaign.completed == 1
    first_key = campaign_requests_keys(campaign)
    stall(campaign)

    with django_capture_on_commit_callbacks(execute=True):
        assert symbol_by_name("certificates.tasks.revive_campaigns").delay().get() == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert campaign.completed == campaign.total == CERTIFICATES and campaign.error == ""
    assert_each_certificate_renewed_once(campaign)
    assert campaign_requests_keys(campaign).items() >= first_key.items()  # the CSR made kept
    # Reviving again (the lost message turning up, a second tick) changes nothing.
    snapshot = campaign_requests_keys(campaign)
    RenewalCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    campaign = campaign_run(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.DONE and campaign_requests_keys(campaign) == snapshot
    assert_each_certificate_renewed_once(campaign)


def campaign_requests_keys(campaign) -> dict[int, str]:
    """Request id -> public key hash, for the requests of the campaign that have a CSR."""
    return dict(
        CertificateRequest.objects.filter(campaign=campaign)
        .exclude(csr_pem="")
        .values_list("pk", "public_key_sha256")
    )


def test_revive_with_the_broker_down_keeps_the_message(
    tenant_a, expiring, django_capture_on_commit_callbacks
):

    campaign = stall(create(tenant_a, certificate_ids=[expiring[0].pk]))
    point_celery_to("redis://127.0.0.1:1/0", eager=False)  # a closed port, for real
    with django_capture_on_commit_callbacks(execute=True):  # the publish is tried, and fails
        assert campaigns_revive() == [campaign.pk]  # no exception: the outbox keeps it
    pending = run_messages(campaign).get(sent_at__isnull=True)
    assert pending.attempts == 1 and pending.last_error


# --------------------------------------------------------------------------- resume


def test_resume_refuses_a_live_campaign_and_accepts_a_stalled_one(
    tenant_a, tenant_b, expiring, django_capture_on_commit_callbacks
):
    campaign = freshen(create(tenant_a, certificate_ids=[expiring[0].pk]))
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        campaigns.campaign_resume(campaign=campaign, actor=tenant_a.admin)
    assert refused.value.code == "running" and "no progress for 20 minutes" in str(refused.value)
    campaign = stall(campaign)
    for outsider in (tenant_a.viewer, tenant_b.admin):
        with pytest.raises(PermissionDenied):
            campaigns.campaign_resume(campaign=campaign, actor=outsider)
    with django_capture_on_commit_callbacks() as callbacks:
        campaigns.campaign_resume(campaign=campaign, actor=tenant_a.operator)
    assert len(callbacks) == 1 and run_messages(campaign).count() == 2


# --------------------------------------------------------------------------- pages


def test_page_shows_a_stalled_campaign_and_writers_resume_it(
    tenant_a,
    expiring,
    client_for,
    fast_keys,
    eager,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    campaign = stall(create(tenant_a, certificate_ids=[c.pk for c in expiring]))
    since = timezone.localtime(campaign.progressed_at).strftime("%d/%m/%Y %H:%M")
    operator = client_for(tenant_a.operator)
    resume = reverse("certificates:campaign_resume", args=[campaign.pk])
    with django_assert_max_num_queries(10):
        page = operator.get(campaign.get_absolute_url())
    assert_valid_html(page)
    body = page.content.decode()
    assert f"Bloquée depuis le {since}" in body
    assert f'action="{resume}"' in body
    # The polled fragment says it too (the button appears without reloading the page).
    fragment = operator.get(reverse("certificates:campaign_progress", args=[campaign.pk]), **htmx())
    assert_valid_html(fragment)
    assert "Bloquée depuis le" in fragment.content.decode() and resume in fragment.content.decode()
    # Readers see the notice, not the button; and they cannot post it.
    viewer = client_for(tenant_a.viewer)
    viewer_body = viewer.get(campaign.get_absolute_url()).content.decode()
    assert "Bloquée depuis le" in viewer_body and resume not in viewer_body
    assert viewer.post(resume).status_code == 403
    with translation.override("en"):
        english = client_for(tenant_a.operator).get(
            campaign.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en"
        )
    assert "Stalled since" in english.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(resume)
    assert response.status_code == 302 and response["Location"] == campaign.get_absolute_url()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE and campaign.completed == CERTIFICATES
    assert_each_certificate_renewed_once(campaign)
    assert AuditEvent.objects.filter(action="campaign.resume", actor=tenant_a.operator).exists()
    assert "Bloquée" not in operator.get(campaign.get_absolute_url()).content.decode()


def test_a_live_campaign_offers_no_resume(tenant_a, expiring, client_for):
    campaign = freshen(create(tenant_a, certificate_ids=[expiring[0].pk]))
    operator = client_for(tenant_a.operator)
    resume = reverse("certificates:campaign_resume", args=[campaign.pk])
    body = operator.get(campaign.get_absolute_url()).content.decode()
    assert "Bloquée" not in body and resume not in body
    # A stale page posting anyway is refused: the live run is not doubled.
    response = operator.post(resume, follow=True)
    assert response.status_code == 200
    assert "ne pourra être reprise qu" in response.content.decode()
    assert run_messages(campaign).count() == 1
    assert not AuditEvent.objects.filter(action="campaign.resume").exists()


@pytest.mark.parametrize("role", ["admin", "operator", "viewer", "pharmacist"])
def test_another_editors_stalled_campaign_is_a_404(tenant_a, tenant_b, expiring, client_for, role):
    campaign = stall(create(tenant_a, certificate_ids=[c.pk for c in expiring]))
    client = client_for(getattr(tenant_b, role))
    # Pharmacists never see campaign pages (403, theirs too); editor staff get a 404.
    page_status = 403 if role == "pharmacist" else 404
    for name in ("campaign_detail", "campaign_progress"):
        url = reverse(f"certificates:{name}", args=[campaign.pk])
        assert client.get(url).status_code == page_status
    # Resuming is for writers: readers are refused before any lookup, writers get a 404.
    resume_status = 404 if role in ("admin", "operator") else 403
    response = client.post(reverse("certificates:campaign_resume", args=[campaign.pk]))
    assert response.status_code == resume_status
    assert run_messages(campaign).count() == 1
    assert not AuditEvent.objects.filter(action="campaign.resume").exists()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    if role != "pharmacist":  # ... while the editor's own staff see it
        assert (
            client_for(getattr(tenant_a, role)).get(campaign.get_absolute_url()).status_code == 200
        )
