"""Issue 16: "renewed but not installed" is one filter, in the API and on the list page."""

from __future__ import annotations

import pytest
from django.utils import timezone

from certificates.lifecycle import installation_report
from tests.helpers.api import bearer

pytestmark = pytest.mark.django_db


def test_installed_field_and_filter(tenant_a, keys_a, make_certificate, client_for):
    installed = make_certificate(tenant_a.officine, common_name="INSTALLED")
    waiting = make_certificate(tenant_a.officine, common_name="WAITING")
    installation_report(
        certificate=installed,
        host="poste-1.pharmacie.local",
        installed_at=timezone.now(),
        reported_by="LGO",
        actor=tenant_a.operator,
    )
    client = bearer(keys_a.read)
    rows = {r["id"]: r["installed"] for r in client.get("/api/v1/certificates/").json()["results"]}
    assert rows == {installed.pk: True, waiting.pk: False}
    only = client.get("/api/v1/certificates/", {"installed": "false"}).json()["results"]
    assert [r["id"] for r in only] == [waiting.pk]
    only = client.get("/api/v1/certificates/", {"installed": "true"}).json()["results"]
    assert [r["id"] for r in only] == [installed.pk]
    assert client.get(f"/api/v1/certificates/{waiting.pk}/").json()["installed"] is False

    page = client_for(tenant_a.operator).get("/certificates/", {"installed": "no"})
    assert page.status_code == 200
    listed = [c.pk for c in page.context["object_list"]]
    assert listed == [waiting.pk]
    assert 'class="installed"' in page.content.decode()
