"""The audit log is append-only: not through the model, the admin, any URL of the portal,
nor (on PostgreSQL) raw SQL, which a trigger refuses (migration portal 0004)."""

from __future__ import annotations

import re

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns, simplify_regex
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import get_resolver

from portal.api.keys import api_key_create
from portal.audit import audit_record
from portal.models import AuditEvent
from tests.factories import UserFactory
from tests.helpers.tenants import logged_in
from tests.helpers.tools import postgres_only

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in AuditEvent._meta.concrete_fields]
ACTOR = FIELDS.index("actor_id")


def snapshot() -> dict[int, tuple]:
    return {row[0]: row for row in AuditEvent.objects.order_by("pk").values_list(*FIELDS)}


def unchanged(before: dict[int, tuple]) -> None:
    """Each event as it was; the actor may only have become NULL (its account deleted)."""
    after = snapshot()
    for pk, row in before.items():
        assert pk in after, f"audit event {pk} deleted"
        now = after[pk]
        if now[ACTOR] is None:
            row = (*row[:ACTOR], None, *row[ACTOR + 1 :])
        assert now == row


@pytest.fixture
def events(tenant_a):
    return [
        audit_record(
            action="key.decrypt",
            actor=tenant_a.admin,
            editor=tenant_a.editor,
            reason="PKCS#12 export",
            details={"key_id": "0123abcd"},
        ),
        audit_record(
            action="officine.update",
            actor=tenant_a.operator,
            editor=tenant_a.editor,
            outcome="failure",
        ),
    ]


def test_the_model_refuses_update_and_delete(events):
    event = AuditEvent.objects.get(pk=events[0].pk)
    event.action = "nothing.happened"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "key.decrypt"


@pytest.fixture
def staff(tenant_a):
    """A superuser: every admin permission there is, so only the ModelAdmin can refuse."""
    user = UserFactory(email="staff@portail.example", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_shows_but_never_changes_nor_deletes(events, staff):
    event = events[0]
    before = snapshot()
    base = f"/admin/portal/auditevent/{event.pk}"
    page = staff.get(f"{base}/change/")
    assert page.status_code == 200  # read-only view
    body = page.content.decode()
    assert 'name="_save"' not in body and 'name="action"' not in body
    assert staff.post(f"{base}/change/", {"action": "x", "reason": "x"}).status_code == 403
    assert staff.get(f"{base}/delete/").status_code == 403
    assert staff.post(f"{base}/delete/", {"post": "yes"}).status_code == 403
    assert staff.get("/admin/portal/auditevent/add/").status_code == 403
    changelist = staff.get("/admin/portal/auditevent/")
    assert changelist.status_code == 200 and "delete_selected" not in changelist.content.decode()
    staff.post(
        "/admin/portal/auditevent/",
        {"action": "delete_selected", "_selected_action": [e.pk for e in events], "post": "yes"},
    )
    unchanged(before)


def url_templates() -> list[tuple[str, str]]:
    """(path with <params>, url name) for every URL of the portal, admin and API included."""
    found = []
    for _view, regex, _namespace, name in extract_views_from_urlpatterns(
        get_resolver().url_patterns
    ):
        found.append((simplify_regex(regex), name or ""))
    return found


def concrete(path: str, pk: int) -> str:
    """Every parameter gets the audit event's id: the one a view editing it would take."""
    return re.sub(r"<[^>]+>", str(pk), path)


def test_no_url_of_the_portal_changes_an_audit_event(tenant_a, events, staff):
    """Every route, with the event's id in every parameter, with every writing method, as
    the editor's admin (web), a full-scope API key and a superuser (admin): afterwards the
    events are exactly what they were (new events may be appended, none changed)."""
    before = snapshot()
    key = api_key_create(
        editor=tenant_a.editor,
        name="tout",
        scopes=["read", "write", "keys:export"],
        actor=tenant_a.admin,
    )[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}", raise_request_exception=False)
    web = logged_in(tenant_a.admin)
    web.raise_request_exception = False
    staff.raise_request_exception = False
    form = {
        "action": "x",
        "actor_label": "x",
        "reason": "x",
        "outcome": "failure",
        "details": "{}",
        "post": "yes",
        "confirm": "yes",
        "_selected_action": events[0].pk,
    }
    errors = []
    for path, name in url_templates():
        if "logout" in name:
            continue  # would end the session used for the rest of the routes
        url = concrete(path, events[0].pk)
        if url.startswith("/api/"):
            client, methods = api, ("post", "put", "patch", "delete")
        elif url.startswith("/admin/"):
            client, methods = staff, ("post",)  # the admin writes with POST only
        else:
            client, methods = web, ("post", "delete")
        for method in methods:
            if url.startswith("/api/"):
                response = getattr(client, method)(url, form, content_type="application/json")
            else:
                response = getattr(client, method)(url, form)
            if response.status_code >= 500:
                errors.append((method.upper(), url, response.status_code))
    unchanged(before)
    assert not errors, errors


requires_postgres = postgres_only("the append-only trigger is PostgreSQL's")


@requires_postgres
def test_postgresql_refuses_raw_update_and_delete(events):
    event = events[0]
    statements = [
        ("UPDATE portal_auditevent SET action = 'x' WHERE id = %s", [event.pk]),
        ("UPDATE portal_auditevent SET details = '{}'::jsonb WHERE id = %s", [event.pk]),
        ("UPDATE portal_auditevent SET actor_id = NULL, reason = '' WHERE id = %s", [event.pk]),
        ("DELETE FROM portal_auditevent WHERE id = %s", [event.pk]),
        ("DELETE FROM portal_auditevent", []),
    ]
    for sql, params in statements:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
    # The ORM's bulk paths, which skip the model's save() and delete(), too.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(outcome="failure")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk)._raw_delete(AuditEvent.objects.db)
    assert snapshot()[event.pk][FIELDS.index("action")] == "key.decrypt"


@requires_postgres
def test_deleting_a_user_keeps_its_events(tenant_a, events):
    """The one change the trigger allows: ON DELETE SET NULL of the actor, label kept."""
    actor = tenant_a.admin
    ids = list(AuditEvent.objects.filter(actor=actor).values_list("pk", flat=True))
    assert ids
    actor.delete()
    for event in AuditEvent.objects.filter(pk__in=ids):
        assert event.actor_id is None and event.actor_label == "admin@editeura.fr"
