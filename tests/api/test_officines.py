"""Officines over the API: by FINESS, filters, coverage, create and update through the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from officines.models import Officine
from portal.models import AuditEvent
from tests.factories import OfficineFactory
from tests.helpers.api import bearer, problem

pytestmark = pytest.mark.django_db

LIST = "/api/v1/officines/"


def finesses(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["finess"] for row in response.json()["results"]]


def test_retrieve_by_finess_with_coverage(tenant_a, keys_a, make_certificate):
    make_certificate(tenant_a.officine, common_name="INSI-AUTO", services=("INSI",))
    response = bearer(keys_a.read).get(f"{LIST}{tenant_a.officine.finess}/")
    assert response.status_code == 200
    body = response.json()
    assert body["finess"] == tenant_a.officine.finess
    assert body["raison_sociale"] == tenant_a.officine.raison_sociale
    assert body["technical_administrator"] == tenant_a.administrator.pk
    assert body["coverage"] == {
        "DMP": "missing",
        "INSI": "covered",
        "PSC": "missing",
        "MSSANTE": "missing",
    }
    assert body["url"].endswith(f"{LIST}{tenant_a.officine.finess}/")
    problem(bearer(keys_a.read).get(f"{LIST}760021832/"), 404, "not-found")


def test_list_filters_and_search(tenant_a, keys_a, make_certificate):
    lyon = tenant_a.officine
    paris = OfficineFactory(
        editor=tenant_a.editor,
        finess="750000010",
        department="75",
        raison_sociale="PHARMACIE DES HALLES",
        city="Paris",
        environment="test",
    )
    make_certificate(lyon, common_name="INSI-AUTO", services=("INSI",))
    make_certificate(
        paris,
        common_name="INSI-MANU",
        services=("INSI",),
        not_after=timezone.now() + timedelta(days=5),
    )
    client = bearer(keys_a.read)
    everything = finesses(client.get(LIST))
    assert everything == [lyon.finess, tenant_a.pharmacist_officine.finess, paris.finess]
    assert finesses(client.get(LIST, {"finess": paris.finess})) == [paris.finess]
    assert finesses(client.get(LIST, {"department": "75"})) == [paris.finess]
    assert finesses(client.get(LIST, {"environment": "test"})) == [paris.finess]
    assert finesses(client.get(LIST, {"search": "halles"})) == [paris.finess]
    assert finesses(client.get(LIST, {"search": lyon.finess})) == [lyon.finess]
    # A nine-letter word is a name, not a FINESS (same search as the officine list page).
    assert paris.finess in finesses(client.get(LIST, {"search": "pharmacie"}))
    covered = client.get(LIST, {"coverage_service": "INSI", "coverage_state": "covered"})
    assert finesses(covered) == [lyon.finess]
    expiring = client.get(LIST, {"coverage_service": "INSI", "coverage_state": "expiring"})
    assert finesses(expiring) == [paris.finess]
    missing = client.get(LIST, {"coverage_service": "INSI", "coverage_state": "missing"})
    assert finesses(missing) == [tenant_a.pharmacist_officine.finess]
    half = client.get(LIST, {"coverage_state": "missing"})
    assert "coverage_state" in problem(half, 400, "validation-error")["errors"]
    problem(client.get(LIST, {"environment": "mars"}), 400, "validation-error")


def test_create_validates_through_the_model_and_audits(tenant_a, keys_a):
    client = bearer(keys_a.write)
    response = client.post(
        LIST,
        {"finess": "760 021 832", "raison_sociale": "PHARMACIE NORMANDE", "city": "Rouen"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["finess"] == "760021832" and body["department"] == "76"
    assert body["coverage"]["DMP"] == "missing"
    officine = Officine.objects.get(finess="760021832")
    assert officine.editor == tenant_a.editor
    event = AuditEvent.objects.get(action="officine.create")
    assert event.actor_label.startswith("API key lgo_") and event.editor_id == tenant_a.editor.pk

    duplicate = client.post(
        LIST, {"finess": "760021832", "raison_sociale": "X"}, content_type="application/json"
    )
    problem(duplicate, 400, "validation-error")
    bad_luhn = client.post(
        LIST, {"finess": "760021833", "raison_sociale": "X"}, content_type="application/json"
    )
    assert "finess" in problem(bad_luhn, 400, "validation-error")["errors"]
    assert Officine.objects.filter(editor=tenant_a.editor).count() == 3


def test_technical_administrator_must_be_the_editors(tenant_a, tenant_b, keys_a):
    response = bearer(keys_a.write).post(
        LIST,
        {
            "finess": "760021832",
            "raison_sociale": "X",
            "technical_administrator": tenant_b.administrator.pk,
        },
        content_type="application/json",
    )
    assert "technical_administrator" in problem(response, 400, "validation-error")["errors"]


def test_update_keeps_the_finess(tenant_a, keys_a):
    url = f"{LIST}{tenant_a.officine.finess}/"
    client = bearer(keys_a.officine)
    response = client.patch(
        url,
        {"notification_email": "nouvelle@example.fr", "finess": "760021832"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    tenant_a.officine.refresh_from_db()
    assert tenant_a.officine.notification_email == "nouvelle@example.fr"
    assert tenant_a.officine.finess != "760021832"
    bad = client.patch(
        url, {"notification_email": "pas un e-mail"}, content_type="application/json"
    )
    assert "notification_email" in problem(bad, 400, "validation-error")["errors"]
    put = client.put(url, {"raison_sociale": "NOUVEAU NOM"}, content_type="application/json")
    assert put.status_code == 200 and put.json()["raison_sociale"] == "NOUVEAU NOM"
    problem(client.delete(url), 405, "method-not-allowed")


def test_officine_limited_key_sees_only_its_officine(tenant_a, keys_a, make_certificate):
    other = OfficineFactory(editor=tenant_a.editor)
    mine = make_certificate(tenant_a.officine)
    theirs = make_certificate(other)
    client = bearer(keys_a.officine)
    assert finesses(client.get(LIST)) == [tenant_a.officine.finess]
    problem(client.get(f"{LIST}{other.finess}/"), 404, "not-found")
    problem(
        client.patch(f"{LIST}{other.finess}/", {"city": "X"}, content_type="application/json"),
        404,
        "not-found",
    )
    listed = client.get("/api/v1/certificates/").json()["results"]
    assert [c["id"] for c in listed] == [mine.pk]
    problem(client.get(f"/api/v1/certificates/{theirs.pk}/"), 404, "not-found")
    problem(client.get(f"/api/v1/certificates/{theirs.pk}/pem/"), 404, "not-found")


def test_pharmacist_session_sees_only_their_officine(tenant_a, client_for):
    client = client_for(tenant_a.pharmacist)
    assert finesses(client.get(LIST)) == [tenant_a.pharmacist_officine.finess]
    problem(client.get(f"{LIST}{tenant_a.officine.finess}/"), 404, "not-found")
