"""/metrics: hidden without a token, refused without the right one, and the values it
exports are the database's, parsed with the Prometheus client's own parser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import shared_task
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from certificates.models import CampaignStatus, RenewalCampaign
from notifications.models import AlertLog, AlertStatus, Channel, WebhookEndpoint
from ops.models import TaskRun
from portal import outbox
from portal.models import OutboxMessage

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token-0123456789"
QUERY_BUDGET = 16


@shared_task(name="tests.ops.boom")
def boom() -> None:
    raise RuntimeError("boom")


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return settings


def scrape(client: Client | None = None, **headers) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items: value} of every sample of a successful scrape."""
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_no_token_configured_is_404(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_missing_or_wrong_token_is_401(metrics_on):
    response = Client().get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"portal_" not in response.content
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401
    basic = Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    assert basic.status_code == 401


def test_network_allow_list(metrics_on):
    metrics_on.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    outside = Client(REMOTE_ADDR="192.0.2.7").get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert outside.status_code == 403
    inside = Client(REMOTE_ADDR="10.1.2.3")
    assert scrape(inside)["portal_celery_broker_up"][()] == 1


def test_business_metrics_are_the_database_values(metrics_on, tenant_a, tenant_b, make_certificate):
    now = timezone.now()
    a, b = tenant_a.editor, tenant_b.editor
    soon = make_certificate(tenant_a.officine, not_after=now + timedelta(days=10), services=["DMP"])
    make_certificate(tenant_a.officine, not_after=now + timedelta(days=400), services=["DMP"])
    make_certificate(tenant_a.officine, not_after=now - timedelta(days=3), services=["DMP"])
    revoked = make_certificate(tenant_a.officine, not_after=now + timedelta(days=200))
    revoked.revoked_at = now
    revoked.save(update_fields=["revoked_at"])
    replaced = make_certificate(tenant_a.officine, not_after=now + timedelta(days=300))
    replaced.superseded_at = now
    replaced.save(update_fields=["superseded_at"])
    planned = make_certificate(tenant_b.officine, not_after=now + timedelta(days=20))
    campaign = RenewalCampaign.objects.create(
        editor=b,
        name="Q1",
        requester_email="ops@b.fr",
        status=CampaignStatus.RUNNING,
        total=4,
        completed=1,
    )
    campaign.certificates.add(planned)
    AlertLog.objects.create(
        certificate=soon,
        threshold=15,
        recipient="admin@a.fr",
        channel=Channel.EMAIL,
        status=AlertStatus.SENT,
        days_left=10,
        scan_date=now.date(),
    )
    AlertLog.objects.create(
        certificate=soon,
        threshold=30,
        recipient="admin@a.fr",
        channel=Channel.EMAIL,
        status=AlertStatus.FAILED,
        days_left=10,
        scan_date=now.date(),
    )
    AlertLog.objects.create(
        certificate=soon,
        threshold=15,
        recipient="op@a.fr",
        channel=Channel.EMAIL,
        days_left=10,
        scan_date=now.date(),
    )
    WebhookEndpoint.objects.create(editor=a, url="https://lgo.example/hook")
    WebhookEndpoint.objects.create(
        editor=a,
        url="https://lgo.example/dead",
        is_active=False,
        failure_count=8,
        disabled_at=now,
    )
    old = OutboxMessage.objects.create(task="portal.tasks.ping", kwargs={})
    OutboxMessage.objects.filter(pk=old.pk).update(created_at=now - timedelta(minutes=10))
    assert outbox.pending_count() == 1

    samples = scrape()
    certificates = samples["portal_certificates"]
    assert certificates[(("editor_id", str(a.pk)), ("status", "expiring"))] == 1
    assert certificates[(("editor_id", str(a.pk)), ("status", "valid"))] == 1
    assert certificates[(("editor_id", str(a.pk)), ("status", "expired"))] == 1
    assert certificates[(("editor_id", str(a.pk)), ("status", "revoked"))] == 1
    assert certificates[(("editor_id", str(a.pk)), ("status", "superseded"))] == 1
    assert certificates[(("editor_id", str(b.pk)), ("status", "superseded"))] == 0
    assert certificates[(("editor_id", str(b.pk)), ("status", "expiring"))] == 1
    earliest = samples["portal_certificate_earliest_usable_until_timestamp_seconds"]
    assert earliest[(("editor_id", str(a.pk)), ("service", "DMP"))] == pytest.approx(
        soon.usable_until.timestamp()
    )
    # Expired and revoked certificates are not "usable": PSC of A is the 400-day one? No:
    # only the revoked one served PSC, so A has no PSC series at all.
    assert (("editor_id", str(a.pk)), ("service", "PSC")) not in earliest
    unplanned = samples["portal_certificates_expiring_without_renewal"]
    assert unplanned[(("editor_id", str(a.pk)),)] == 1
    assert (("editor_id", str(b.pk)),) not in unplanned  # its campaign takes care of it
    running = (("editor_id", str(b.pk)), ("status", "running"))
    assert samples["portal_campaigns"][running] == 1
    assert samples["portal_campaign_certificates"][running] == 4
    assert samples["portal_campaign_certificates_completed"][running] == 1
    alerts = samples["portal_alerts_last_24h"]
    assert alerts[(("channel", "email"), ("status", "sent"))] == 1
    assert alerts[(("channel", "email"), ("status", "failed"))] == 1
    assert samples["portal_alerts_pending"][(("channel", "email"),)] == 1
    endpoints = samples["portal_webhook_endpoints"]
    assert endpoints[(("editor_id", str(a.pk)), ("state", "active"))] == 1
    assert endpoints[(("editor_id", str(a.pk)), ("state", "disabled_failing"))] == 1
    assert samples["portal_outbox_pending_messages"][()] == 1
    assert 590 < samples["portal_outbox_oldest_pending_age_seconds"][()] < 700
    assert (
        samples["portal_editor_info"][
            (("active", "1"), ("editor", a.name), ("editor_id", str(a.pk)))
        ]
        == 1
    )
    assert samples["portal_celery_broker_up"][()] == 1
    # Bounded cardinality: no label names a certificate or an officine.
    labels = {
        label
        for name, series in samples.items()
        if name.startswith("portal_")
        for key in series
        for label, _ in key
    }
    assert labels <= {
        "editor_id",
        "editor",
        "active",
        "status",
        "service",
        "channel",
        "state",
        "task",
        "queue",
        "route",
        "method",
        "alias",
        "le",
    }, labels


def test_task_runs_are_recorded_and_exported(metrics_on):
    from notifications.tasks import daily_scan
    from portal.tasks import ping

    assert ping.apply().get() == "pong"
    assert ping.apply().get() == "pong"
    assert boom.apply(throw=False).failed()  # as in a worker: the error is recorded
    run = TaskRun.objects.get(task="portal.tasks.ping")
    assert run.successes == 2 and run.failures == 0 and run.last_success_at is not None
    assert TaskRun.objects.get(task="tests.ops.boom").failures == 1

    samples = scrape()
    assert samples["portal_task_successes_total"][(("task", "portal.tasks.ping"),)] == 2
    assert samples["portal_task_failures_total"][(("task", "tests.ops.boom"),)] == 1
    beat = samples["portal_beat_task_last_success_timestamp_seconds"]
    # A beat task that never succeeded reads 0 (the 26 h alert fires), then its success time.
    assert beat[(("task", daily_scan.name),)] == 0
    daily_scan.apply()
    beat = scrape()["portal_beat_task_last_success_timestamp_seconds"]
    assert beat[(("task", daily_scan.name),)] == pytest.approx(timezone.now().timestamp(), abs=60)


def test_request_metrics_count_requests_and_queries(metrics_on, tenant_a, client_for):
    client = client_for(tenant_a.viewer)
    before = scrape().get("portal_http_responses_total", {})
    key = (("route", "dashboard"), ("status", "2xx"))
    assert client.get("/dashboard/").status_code == 200
    samples = scrape()
    assert samples["portal_http_responses_total"][key] == before.get(key, 0) + 1
    assert (
        samples["portal_http_request_duration_seconds_count"][
            (("method", "GET"), ("route", "dashboard"))
        ]
        >= 1
    )
    assert samples["portal_db_queries_total"][(("alias", "default"),)] > 0


def test_queue_length_is_read_from_the_broker(metrics_on, settings, tmp_path):
    """The filesystem broker of the embedded default: one file per waiting message."""
    from ops.collectors import queue_lengths

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("Redis queue length is covered by tests/ops/test_health.py")
    folder = tmp_path / "queue"
    folder.mkdir()
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(folder)}
    (folder / "1_abc.celery.msg").write_text("{}")
    (folder / "2_def.celery.msg").write_text("{}")
    (folder / "3_ghi.other.msg").write_text("{}")
    assert queue_lengths() == {"celery": 2}


def test_scrape_query_count_does_not_grow_with_data(
    metrics_on, tenant_a, tenant_b, make_certificate, django_assert_max_num_queries
):
    """A fixed number of aggregate queries, whatever the number of certificates or editors."""
    with django_assert_max_num_queries(QUERY_BUDGET):
        scrape()
    now = timezone.now()
    for officine in (tenant_a.officine, tenant_b.officine):
        for days in (5, 50, 500):
            make_certificate(officine, not_after=now + timedelta(days=days), services=["DMP"])
    with django_assert_max_num_queries(QUERY_BUDGET):
        scrape()
