"""Control characters (NUL first) in searches and filters: never a 500, never stored raw.

PostgreSQL refuses NUL in text and jsonb: a CSV export whose search held "\\x00" failed
writing its audit event (issue 12, finding 9). The audit log strips control characters
from everything it stores; list pages and the API refuse them as invalid filters.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.api.keys import api_key_create
from portal.audit import audit_record
from portal.models import AuditEvent
from tests.helpers.api import bearer

pytestmark = pytest.mark.django_db

HOSTILE = "PHARMA\x00CIE\x1b[31m\x7f\x85\r\nx\ty"
EXPORTS = [("officines:export", "officine.export"), ("audit_export", "audit.export")]


def _strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _no_controls(value) -> bool:
    """No control character in any string of `value` (keys and nested values included)."""
    text = "".join(_strings(value))
    return not any((ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0 for c in text)


@pytest.mark.parametrize(("route", "action"), EXPORTS)
def test_exports_with_control_characters_answer_and_audit_them_stripped(
    tenant_a, client_for, route, action
):
    client = client_for(tenant_a.admin)
    response = client.get(reverse(route), {"q": HOSTILE, "search": HOSTILE})
    assert response.status_code == 200
    b"".join(response.streaming_content)
    event = AuditEvent.objects.filter(action=action).latest("id")
    assert event.details["filters"]["q"] == "PHARMACIE[31m\nx\ty"
    assert _no_controls(event.details)


def test_audit_record_strips_controls_everywhere(tenant_a):
    event = audit_record(
        action="test.controls",
        actor=tenant_a.admin,
        reason=HOSTILE,
        details={HOSTILE: [HOSTILE, {"k": HOSTILE}], "n": 3},
    )
    event.refresh_from_db()
    assert _no_controls(event.reason) and _no_controls(event.details)
    assert event.details["n"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "/officines/",
        "/officines/administrators/",
        "/certificates/",
        "/certificates/requests/",
        "/settings/audit/",
    ],
)
def test_list_pages_with_a_nul_search_are_not_500(tenant_a, client_for, path):
    response = client_for(tenant_a.admin).get(path, {"q": HOSTILE, "search": HOSTILE})
    assert response.status_code in (200, 400), path


@pytest.mark.parametrize(
    "path",
    ["/api/v1/officines/", "/api/v1/certificates/", "/api/v1/certificate-requests/"],
)
def test_api_filters_with_a_nul_are_not_500(tenant_a, path):
    raw = api_key_create(editor=tenant_a.editor, name="lgo", scopes=["read"], actor=None)[1]
    response = bearer(raw).get(path, {"q": HOSTILE, "search": HOSTILE, "finess": HOSTILE})
    assert response.status_code in (200, 400), response.content[:300]
