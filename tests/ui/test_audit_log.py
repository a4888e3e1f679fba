"""Audit log viewer and settings hub: editor admins only, filters, CSV export, tenant isolation."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from console.settings_views import settings_links
from portal.audit import audit_record
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def event(tenant, action, *, actor=None, outcome="success", when=None, **details):
    actor = actor or tenant.operator
    if when is not None:  # append-only: an event in the past is created with its time
        return AuditEvent.objects.create(
            action=action,
            actor=actor,
            actor_label=actor.email,
            editor=tenant.editor,
            outcome=outcome,
            details=details,
            created_at=when,
        )
    return audit_record(
        action=action, actor=actor, editor=tenant.editor, outcome=outcome, details=details
    )


@pytest.fixture
def log_a(tenant_a):
    now = timezone.now()
    return [
        event(tenant_a, "officine.create", when=now - timedelta(days=10)),
        event(tenant_a, "officine.update", when=now - timedelta(days=2)),
        event(tenant_a, "key.decrypt", actor=tenant_a.admin, outcome="failure", when=now),
    ]


def test_only_editor_admins_see_the_log(tenant_a, client_for, log_a):
    assert client_for(tenant_a.admin).get(reverse("audit_log")).status_code == 200
    for role in ("operator", "viewer", "pharmacist"):
        client = client_for(getattr(tenant_a, role))
        assert client.get(reverse("audit_log")).status_code == 403
        assert client.get(reverse("audit_export")).status_code == 403
        assert client.get(reverse("settings")).status_code == 403


def test_the_log_cannot_be_edited(tenant_a, client_for, log_a):
    client = client_for(tenant_a.admin)  # logging in is itself an audit event
    before = AuditEvent.objects.filter(editor=tenant_a.editor).count()
    assert client.post(reverse("audit_log"), {"action": "x"}).status_code == 405
    assert client.post(reverse("audit_export")).status_code == 405
    assert AuditEvent.objects.filter(editor=tenant_a.editor).count() == before


def test_filters(tenant_a, client_for, log_a):
    client = client_for(tenant_a.admin)

    def actions(**query) -> list[str]:
        response = client.get(reverse("audit_log"), query)
        assert response.status_code == 200
        # Logging the client in is an audit event too: leave it out.
        return [e.action for e in response.context["object_list"] if e.action != "login"]

    assert actions() == ["key.decrypt", "officine.update", "officine.create"]
    assert actions(action="officine.update") == ["officine.update"]
    assert actions(outcome="failure") == ["key.decrypt"]
    assert actions(actor=tenant_a.admin.email[:6]) == ["key.decrypt"]
    today = timezone.localdate()
    assert actions(start=(today - timedelta(days=3)).isoformat()) == [
        "key.decrypt",
        "officine.update",
    ]
    assert actions(end=(today - timedelta(days=5)).isoformat()) == ["officine.create"]
    assert actions(start=today.isoformat(), end=today.isoformat()) == ["key.decrypt"]
    body = client.get(reverse("audit_log")).content.decode()
    assert '<option value="officine.create">' in body  # action choices come from the log


def test_pagination_and_query_budget(tenant_a, client_for, django_assert_max_num_queries):
    AuditEvent.objects.bulk_create(
        AuditEvent(editor=tenant_a.editor, action=f"bulk.{i % 7}", actor_label="robot@lgo.example")
        for i in range(260)
    )
    client = client_for(tenant_a.admin)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("audit_log"), {"page": 3, "actor": "robot"})
    assert response.status_code == 200
    assert response.context["paginator"].count == 260  # the login event's actor is not a robot
    assert len(response.context["object_list"]) == 50


def test_csv_export_is_streamed_filtered_and_audited(tenant_a, client_for, log_a):
    response = client_for(tenant_a.admin).get(
        reverse("audit_export"), {"action": "officine.update"}
    )
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:]), delimiter=";"))
    assert len(rows) == 2 and rows[1][2] == "officine.update"
    assert AuditEvent.objects.filter(action="audit.export", editor=tenant_a.editor).exists()


def test_another_tenant_never_sees_these_events(tenant_a, tenant_b, client_for, log_a):
    event(tenant_b, "officine.create")
    client = client_for(tenant_b.admin)
    response = client.get(reverse("audit_log"))
    seen = [e.editor_id for e in response.context["object_list"]]
    assert seen and set(seen) == {tenant_b.editor.pk}
    assert "key.decrypt" not in response.content.decode()
    body = b"".join(client.get(reverse("audit_export")).streaming_content).decode()
    assert "key.decrypt" not in body and tenant_a.admin.email not in body


def test_settings_hub_links_only_to_existing_pages(tenant_a, client_for):
    response = client_for(tenant_a.admin).get(reverse("settings"))
    assert response.status_code == 200
    body = response.content.decode()
    assert reverse("team") in body and reverse("audit_log") in body
    for link in settings_links():
        assert link["url"] in body
        assert link["url"].startswith("/")
