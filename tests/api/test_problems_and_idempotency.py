"""RFC 9457 errors everywhere under /api/, and Idempotency-Key on POST."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from officines.models import Officine
from portal.api import problems
from portal.models import IdempotencyRecord
from tests.helpers.api import bearer, problem

pytestmark = pytest.mark.django_db

OFFICINES = "/api/v1/officines/"


def officine(**overrides) -> dict:
    return {"finess": "760021832", "raison_sociale": "PHARMACIE NORMANDE", **overrides}


# --------------------------------------------------------------------------- problems


def test_unknown_api_paths_are_404_problems(tenant_a, keys_a):
    client = bearer(keys_a.read)
    for path in ("/api/v2/", "/api/v1/nothing/", "/api/", "/api/v1/officines/1/2/3/"):
        body = problem(client.get(path), 404, "not-found")
        assert body["instance"] == path
    hint = problem(Client().post("/api/v1/ping"), 404, "not-found")
    assert "/api/v1/ping/" in hint["detail"]


def test_method_not_allowed_and_not_acceptable(tenant_a, keys_a):
    client = bearer(keys_a.write)
    response = client.delete(OFFICINES)
    problem(response, 405, "method-not-allowed")
    response = client.get(OFFICINES, HTTP_ACCEPT="image/png")
    problem(response, 406, "not-acceptable")


def test_unexpected_errors_are_500_problems_without_traceback(
    tenant_a, keys_a, monkeypatch, caplog
):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals /srv/app/console/officine_api.py")

    monkeypatch.setattr("console.officine_api.coverage_for_officines", boom)
    response = bearer(keys_a.read).get(OFFICINES)
    body = problem(response, 500, "server-error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert set(body) == {"type", "title", "status", "detail", "instance"}
    assert "secret internals" in caplog.text  # logged for the operators


def test_django_handlers_answer_problems_under_api_only(rf: RequestFactory):
    api = problems.handler404(rf.get("/api/v1/x/"), Exception())
    assert api.status_code == 404 and api["Content-Type"] == "application/problem+json"
    error = problems.handler500(rf.get("/api/v1/x/"))
    assert error.status_code == 500 and error["Content-Type"] == "application/problem+json"
    assert b"server-error" in error.content
    page = problems.handler404(rf.get("/officines/x/"), Exception())
    assert page.status_code == 404 and "html" in page["Content-Type"]


def test_browser_accept_header_still_gets_problem_json(tenant_a, client_for):
    response = client_for(tenant_a.viewer).get(
        f"{OFFICINES}760021832/", HTTP_ACCEPT="text/html,application/xhtml+xml"
    )
    problem(response, 404, "not-found")


def test_validation_problem_lists_every_field(tenant_a, keys_a):
    response = bearer(keys_a.write).post(
        OFFICINES, {"notification_email": "x"}, content_type="application/json"
    )
    body = problem(response, 400, "validation-error")
    assert {"finess", "raison_sociale", "notification_email"} <= set(body["errors"])
    assert all(isinstance(m, str) for ms in body["errors"].values() for m in ms)


def test_flatten_errors_names_nested_fields():
    assert problems.flatten_errors(
        {"a": ["x"], "b": {"c": ["y"]}, "d": [{}, {"e": ["z"]}], "__all__": ["w"]}
    ) == {"a": ["x"], "b.c": ["y"], "d.1.e": ["z"], "non_field_errors": ["w"]}
    assert problems.flatten_errors(["only"]) == {"non_field_errors": ["only"]}


# --------------------------------------------------------------------------- idempotency


def test_retry_with_same_key_returns_the_first_result(tenant_a, keys_a):
    client = bearer(keys_a.write)
    first = client.post(
        OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == 201
    retry = client.post(
        OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Officine.objects.filter(finess="760021832").count() == 1
    # Without the key the same body is a new request (here: a duplicate FINESS).
    again = client.post(OFFICINES, officine(), content_type="application/json")
    problem(again, 400, "validation-error")


def test_same_key_with_another_body_is_422(tenant_a, keys_a):
    client = bearer(keys_a.write)
    client.post(OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post(
        OFFICINES,
        officine(finess="750000010"),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    problem(other, 422, "idempotency-key-reused")
    assert not Officine.objects.filter(finess="750000010").exists()


def test_keys_are_per_caller_and_per_path(tenant_a, keys_a, client_for):
    payload = officine()
    bearer(keys_a.write).post(
        OFFICINES, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY="same"
    )
    # Another caller using the same key string runs its own request.
    response = client_for(tenant_a.operator).post(
        OFFICINES,
        officine(finess="750000010"),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="same",
    )
    assert response.status_code == 201
    assert IdempotencyRecord.objects.count() == 2


def test_errors_are_replayed_but_server_errors_are_not(tenant_a, keys_a, monkeypatch):
    client = bearer(keys_a.write)
    bad = officine(finess="760021833")
    first = client.post(OFFICINES, bad, content_type="application/json", HTTP_IDEMPOTENCY_KEY="bad")
    replay = client.post(
        OFFICINES, bad, content_type="application/json", HTTP_IDEMPOTENCY_KEY="bad"
    )
    assert first.status_code == replay.status_code == 400
    assert replay["Content-Type"] == "application/problem+json"
    assert replay.json() == first.json()

    def boom(**kwargs):
        raise RuntimeError("down")

    monkeypatch.setattr("console.officine_api.officine_save", boom)
    failed = client.post(
        OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="retry-me"
    )
    assert failed.status_code == 500
    monkeypatch.undo()
    retried = client.post(
        OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="retry-me"
    )
    assert retried.status_code == 201


def test_in_progress_key_is_409(tenant_a, keys_a):
    from portal.models import ApiKey

    api_key = ApiKey.objects.get(prefix=keys_a.write[:12])
    client = bearer(keys_a.write)
    client.post(OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="busy")
    IdempotencyRecord.objects.filter(owner=f"key:{api_key.pk}", key="busy").update(status_code=None)
    response = client.post(
        OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="busy"
    )
    problem(response, 409, "idempotency-key-in-use")


def test_multipart_retries_match_despite_a_new_boundary(
    tenant_a, keys_a, pki, shared_key, trust_anchors
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from certificates.demo_pki import to_pem_bundle
    from certificates.models import Certificate

    _, cert = pki.issue_for(
        finess=tenant_a.officine.finess,
        raison_sociale=tenant_a.officine.raison_sociale,
        department=tenant_a.officine.department_label,
        common_name="LGO",
        profile="ORG_AUTH_CLI",
        key=shared_key,
    )
    client = bearer(keys_a.write)
    responses = [
        client.post(
            "/api/v1/certificates/import/",
            {"file": SimpleUploadedFile("c.pem", to_pem_bundle(cert))},
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[1]["Idempotent-Replayed"] == "true"
    assert Certificate.objects.count() == 1


def test_invalid_idempotency_key_is_400(tenant_a, keys_a):
    response = bearer(keys_a.write).post(
        OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="x" * 300
    )
    problem(response, 400, "bad-request")
    assert not Officine.objects.filter(finess="760021832").exists()


def test_expired_records_are_purged_and_the_key_reusable(tenant_a, keys_a, settings):
    from datetime import timedelta

    from django.utils import timezone

    client = bearer(keys_a.write)
    client.post(OFFICINES, officine(), content_type="application/json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    again = client.post(
        OFFICINES,
        officine(finess="750000010"),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="old",
    )
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert IdempotencyRecord.objects.count() == 1
