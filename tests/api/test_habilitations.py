"""API: habilitations per officine, the officine's administrators, form 503 from request to
processing."""

from __future__ import annotations

import pytest

from officines.models import AdministratorChange, OfficineHabilitation
from tests.factories import OfficineFactory, TechnicalAdministratorFactory
from tests.helpers.api import bearer

pytestmark = pytest.mark.django_db


def test_officine_lists_its_administrators_and_says_when_not_to_order(tenant_a, keys_a):
    client = bearer(keys_a.read)
    body = client.get(f"/api/v1/officines/{tenant_a.officine.finess}/").json()
    assert body["habilitated"] is True and body["ordering_warning"] is None
    [admin] = body["administrators"]
    assert admin["id"] == tenant_a.administrator.pk
    assert admin["state"] == "habilitated" and admin["main_contact"] is True
    assert admin["card_on_order"] is False
    bare = client.get(f"/api/v1/officines/{tenant_a.pharmacist_officine.finess}/").json()
    assert bare["habilitated"] is False
    assert bare["ordering_warning"] == "Ne pas commander : administrateur non habilité"


def test_bulk_habilitation_by_finess_list(tenant_a, tenant_b, keys_a):
    admin = TechnicalAdministratorFactory(editor=tenant_a.editor)
    other = OfficineFactory(editor=tenant_a.editor)
    client = bearer(keys_a.write)
    payload = {
        "administrator": admin.pk,
        "state": "requested",
        "date": "2026-02-03",
        "finess": [tenant_a.officine.finess, other.finess],
    }
    response = client.post("/api/v1/habilitations/", payload, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {"count": 2, "created": 2, "updated": 0, "unchanged": 0}
    listed = client.get("/api/v1/habilitations/", {"administrator": admin.pk}).json()["results"]
    assert {(r["finess"], r["state"], r["requested_on"]) for r in listed} == {
        (tenant_a.officine.finess, "requested", "2026-02-03"),
        (other.finess, "requested", "2026-02-03"),
    }
    # An unknown (or another editor's) FINESS: 400 and nothing written.
    payload = {
        **payload,
        "state": "habilitated",
        "finess": [other.finess, tenant_b.officine.finess],
    }
    response = client.post("/api/v1/habilitations/", payload, content_type="application/json")
    assert response.status_code == 400
    assert tenant_b.officine.finess in response.json()["errors"]["finess"][0]
    assert (
        OfficineHabilitation.objects.get(officine=other, administrator=admin).state == "requested"
    )
    # A card on order cannot be habilitated.
    on_order = TechnicalAdministratorFactory(editor=tenant_a.editor, card_number="")
    payload = {"administrator": on_order.pk, "state": "habilitated", "finess": [other.finess]}
    response = client.post("/api/v1/habilitations/", payload, content_type="application/json")
    assert response.status_code == 400
    assert "301" in response.content.decode()
    # Read-only keys may not write.
    response = bearer(keys_a.read).post(
        "/api/v1/habilitations/", payload, content_type="application/json"
    )
    assert response.status_code == 403


def test_form_503_through_the_api(tenant_a, keys_a):
    new = TechnicalAdministratorFactory(editor=tenant_a.editor, full_name="Api Nouveau")
    client = bearer(keys_a.write)
    response = client.post(
        "/api/v1/administrator-changes/",
        {"new_administrator": new.pk, "finess": [tenant_a.officine.finess]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    change = response.json()
    assert change["status"] == "pending"
    assert change["officines"][0]["old_administrator"]["id"] == tenant_a.administrator.pk
    officine = client.get(f"/api/v1/officines/{tenant_a.officine.finess}/").json()
    assert officine["technical_administrator"] == tenant_a.administrator.pk
    assert officine["pending_administrator_change"] == change["id"]
    sheet = client.get(f"/api/v1/administrator-changes/{change['id']}/worksheet/")
    assert sheet.status_code == 200 and new.card_number in sheet.content.decode()
    done = client.post(
        f"/api/v1/administrator-changes/{change['id']}/process/",
        {"processed_on": "2026-03-01"},
        content_type="application/json",
    )
    assert done.status_code == 200 and done.json()["status"] == "processed"
    officine = client.get(f"/api/v1/officines/{tenant_a.officine.finess}/").json()
    assert officine["technical_administrator"] == new.pk
    assert officine["pending_administrator_change"] is None
    states = {a["id"]: a["state"] for a in officine["administrators"]}
    assert states == {tenant_a.administrator.pk: "revoked", new.pk: "habilitated"}
    again = client.post(f"/api/v1/administrator-changes/{change['id']}/cancel/")
    assert again.status_code == 400
    assert AdministratorChange.objects.get().status == "processed"


def test_patching_the_administrator_records_a_pending_503(tenant_a, keys_a):
    new = TechnicalAdministratorFactory(editor=tenant_a.editor)
    response = bearer(keys_a.write).patch(
        f"/api/v1/officines/{tenant_a.officine.finess}/",
        {"technical_administrator": new.pk},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["technical_administrator"] == tenant_a.administrator.pk
    assert body["pending_administrator_change"] == AdministratorChange.objects.get().pk
