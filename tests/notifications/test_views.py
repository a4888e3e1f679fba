"""Pages: notifications scoped to their user, settings by role, secrets shown once, the
alert history include for the certificate page."""

import re

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from notifications.digests import digests_send
from notifications.models import AlertPolicy, CalendarFeed, Notification, WebhookEndpoint
from notifications.scan import alert_scan
from notifications.webhooks.secrets import webhook_secret
from portal.models import AuditEvent
from tests.helpers.notifications import TODAY

pytestmark = pytest.mark.django_db


def notification_for(user, title="3 certificats expirent"):
    return Notification.objects.create(user=user, title=title, body="ligne", url="/certificates/1/")


def test_notifications_are_private_to_their_user(tenant_a, client_for):
    mine = notification_for(tenant_a.operator, "MINE")
    theirs = notification_for(tenant_a.admin, "THEIRS")
    client = client_for(tenant_a.operator)
    page = client.get(reverse("notifications:list")).content.decode()
    assert "MINE" in page and "THEIRS" not in page
    assert client.get(reverse("notifications:badge")).content.decode().strip().endswith(">1</span>")
    # Someone else's notification is a 404, even in the same editor.
    assert client.post(reverse("notifications:mark_read", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    response = client.post(reverse("notifications:mark_read", args=[mine.pk]), {"next": "open"})
    assert response.status_code == 302 and response.url == "/certificates/1/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert client.get(reverse("notifications:badge")).content.decode().strip() == ""


def test_mark_all_read(tenant_a, client_for):
    for _ in range(3):
        notification_for(tenant_a.pharmacist)
    other = notification_for(tenant_a.viewer)
    client_for(tenant_a.pharmacist).post(reverse("notifications:mark_all_read"))
    assert not Notification.objects.filter(user=tenant_a.pharmacist, read_at__isnull=True).exists()
    other.refresh_from_db()
    assert other.read_at is None


def test_menu_links(tenant_a, client_for):
    page = client_for(tenant_a.viewer).get(reverse("officines:list")).content.decode()
    assert reverse("notifications:settings") in page
    assert f'hx-get="{reverse("notifications:badge")}"' in page


def test_settings_page_by_role(tenant_a, client_for):
    admin = client_for(tenant_a.admin).get(reverse("notifications:settings"))
    assert admin.status_code == 200
    assert 'action="/notifications/webhooks/new/"' in admin.content.decode()
    viewer = client_for(tenant_a.viewer).get(reverse("notifications:settings")).content.decode()
    assert 'action="/notifications/settings/subscription/"' in viewer
    assert "webhooks/new" not in viewer and "settings/policy" not in viewer
    assert client_for(tenant_a.pharmacist).get(reverse("notifications:settings")).status_code == 403
    for name in ("policy_update", "webhook_create", "calendar_create"):
        assert (
            client_for(tenant_a.operator).post(reverse(f"notifications:{name}")).status_code == 403
        )


def test_admin_adds_thresholds_but_cannot_remove_the_defaults(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    response = client.post(reverse("notifications:policy_update"), {"extra_thresholds": "90, 60"})
    assert response.status_code == 302
    policy = AlertPolicy.objects.get(editor=tenant_a.editor)
    assert policy.thresholds() == [90, 60, 30, 15, 7, 1, 0]
    # Nothing removes 30 (or the other defaults): an empty list just drops the extras.
    client.post(reverse("notifications:policy_update"), {"extra_thresholds": ""})
    policy.refresh_from_db()
    assert policy.thresholds() == [30, 15, 7, 1, 0]
    bad = client.post(reverse("notifications:policy_update"), {"extra_thresholds": "0, 500"})
    assert bad.status_code == 400
    policy.refresh_from_db()
    assert policy.extra_thresholds == []
    assert AuditEvent.objects.filter(action="alert_policy.update").count() == 2


def test_subscription_toggle(tenant_a, client_for):
    client = client_for(tenant_a.viewer)
    client.post(reverse("notifications:subscription"), {"subscribed": "1"})
    assert tenant_a.viewer.alert_subscriptions.filter(editor=tenant_a.editor).exists()
    client.post(reverse("notifications:subscription"), {"subscribed": "0"})
    assert not tenant_a.viewer.alert_subscriptions.exists()


def test_webhook_secret_is_shown_once(tenant_a, client_for, local_webhooks):
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("notifications:webhook_create"),
        {"url": "http://127.0.0.1:9/hook", "events": ["certificate.expiring"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.url == reverse("notifications:webhook_detail", args=[endpoint.pk])
    first = client.get(response.url).content.decode()
    assert webhook_secret(endpoint) in first
    assert webhook_secret(endpoint) not in client.get(response.url).content.decode()
    client.post(reverse("notifications:webhook_secret", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert webhook_secret(endpoint) in client.get(response.url).content.decode()
    client.post(reverse("notifications:webhook_toggle", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    client.post(reverse("notifications:webhook_delete", args=[endpoint.pk]))
    assert not WebhookEndpoint.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "webhook.create",
        "webhook.secret_regenerate",
        "webhook.disable",
        "webhook.delete",
    } <= actions


def test_webhook_form_refuses_plain_http(tenant_a, client_for, settings):
    settings.WEBHOOK_ALLOW_HTTP_LOCALHOST = False
    response = client_for(tenant_a.admin).post(
        reverse("notifications:webhook_create"),
        {"url": "http://lgo.example.com/hook", "events": ["certificate.expiring"]},
    )
    assert response.status_code == 400
    assert "https://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_calendar_link_created_shown_once_and_scoped(tenant_a, tenant_b, client_for, client):
    admin = client_for(tenant_a.admin)
    response = admin.post(
        reverse("notifications:calendar_create"),
        {"finess": tenant_a.officine.finess, "language": "fr"},
    )
    assert response.status_code == 302
    page = admin.get(reverse("notifications:settings")).content.decode()
    url = re.search(r'value="(http[^"]+\.ics)"', page).group(1)
    assert client.get(url.split("8000", 1)[1]).status_code == 200
    assert ".ics" not in admin.get(reverse("notifications:settings")).content.decode()
    assert CalendarFeed.objects.get().officine == tenant_a.officine
    # Another editor's FINESS is unknown here.
    refused = admin.post(
        reverse("notifications:calendar_create"),
        {"finess": tenant_b.officine.finess, "language": "fr"},
    )
    assert refused.status_code == 400
    assert CalendarFeed.objects.count() == 1


def test_alert_log_include(cert_in, tenant_a, rf):
    certificate = cert_in(7)
    digests_send(alert_scan(today=TODAY, enqueue=False).digest_ids)
    template = Template(
        '{% include "notifications/_alert_log.html" with certificate=certificate %}'
    )

    def render(user):
        request = rf.get("/")
        request.user = user
        with translation.override("en"):
            return template.render(Context({"certificate": certificate, "request": request}))

    staff = render(tenant_a.operator)
    assert tenant_a.administrator.email in staff
    assert staff.count("<tr>") == 1 + 2  # header + TA + officine mailbox (skipped ones hidden)
    assert "7 days before expiry" in staff
    assert "badge success" in staff


def test_alert_log_masks_staff_addresses_for_pharmacists(cert_in, tenant_a):
    from notifications.selectors import alert_log_for
    from notifications.services import alert_subscription_set

    alert_subscription_set(user=tenant_a.viewer, subscribed=True)
    certificate = cert_in(7, officine=tenant_a.pharmacist_officine)
    alert_scan(today=TODAY, enqueue=False)
    for_staff = {line.recipient for line in alert_log_for(certificate, user=tenant_a.admin)}
    for_pharmacist = {
        line.recipient for line in alert_log_for(certificate, user=tenant_a.pharmacist)
    }
    assert tenant_a.viewer.email in for_staff
    assert tenant_a.viewer.email not in for_pharmacist
    assert tenant_a.pharmacist.email in for_pharmacist and "…" in for_pharmacist


def test_every_alert_log_page_masks_with_the_same_rule(cert_in, tenant_a, client_for):
    from notifications.services import alert_subscription_set

    alert_subscription_set(user=tenant_a.viewer, subscribed=True)
    officine = tenant_a.pharmacist_officine
    cert_in(7, officine=officine)
    alert_scan(today=TODAY, enqueue=False)
    pharmacist = client_for(tenant_a.pharmacist)
    pages = [
        pharmacist.get(reverse("certificates:officine", args=[officine.pk])),
        pharmacist.get(reverse("officines:detail", args=[officine.pk])),
    ]
    for page in pages:
        assert page.status_code == 200
        body = page.content.decode()
        assert tenant_a.pharmacist.email in body and "…" in body
        assert tenant_a.viewer.email not in body
    staff = client_for(tenant_a.admin)
    assert tenant_a.viewer.email in staff.get(reverse("dashboard")).content.decode()
    panel = staff.get(reverse("certificates:officine", args=[officine.pk])).content.decode()
    assert tenant_a.viewer.email in panel
