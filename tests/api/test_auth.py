"""API keys and who may call what: authentication, scopes, throttling, key services and command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from officines.models import Officine
from portal.api.keys import api_key_create, api_key_revoke, hash_key
from portal.models import ApiKey, AuditEvent
from tests.helpers.api import bearer, problem
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db

PING = "/api/v1/ping/"
OFFICINES = "/api/v1/officines/"


# --------------------------------------------------------------------------- keys


def test_key_is_shown_once_and_stored_hashed(tenant_a):
    api_key, raw = api_key_create(
        editor=tenant_a.editor, name="LGO", scopes="read,write", actor=tenant_a.admin
    )
    assert raw.startswith("lgo_") and len(raw) >= 40
    assert api_key.prefix == raw[:12]
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hash_key(raw)
    assert raw not in str(ApiKey.objects.filter(pk=api_key.pk).values().get())
    assert stored.scopes == ["read", "write"]
    event = AuditEvent.objects.get(action="api_key.create")
    assert event.actor == tenant_a.admin and event.editor_id == tenant_a.editor.pk
    assert raw not in str(event.details)


def test_key_creation_refuses_bad_input_and_writes_nothing(tenant_a, tenant_b):
    cases = [
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": ["admin"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["read"], "officine": tenant_b.officine},
        {"name": "x", "scopes": ["read"], "expires_at": timezone.now() - timedelta(days=1)},
    ]
    for kwargs in cases:
        with pytest.raises(ValidationError):
            api_key_create(editor=tenant_a.editor, actor=tenant_a.admin, **kwargs)
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.filter(action="api_key.create").exists()


def test_ping_with_key_and_last_used_is_written_at_most_once_a_minute(tenant_a, keys_a):
    client = bearer(keys_a.officine)
    response = client.get(PING)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "editor": tenant_a.editor.pk,
        "api_key": keys_a.officine[:12],
        "scopes": ["read", "write"],
        "officine": tenant_a.officine.finess,
    }
    api_key = ApiKey.objects.get(prefix=keys_a.officine[:12])
    first = api_key.last_used_at
    assert first is not None
    client.get(PING)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(PING)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at > first


def test_revoked_key_is_401_and_revocation_is_audited(tenant_a, keys_a):
    api_key = ApiKey.objects.get(prefix=keys_a.write[:12])
    assert bearer(keys_a.write).get(PING).status_code == 200
    api_key_revoke(api_key=api_key, actor=tenant_a.admin)
    api_key_revoke(api_key=api_key, actor=tenant_a.admin)  # twice: one audit row
    body = problem(bearer(keys_a.write).get(PING), 401, "authentication-failed")
    assert "revoked" in body["detail"].lower() or "révoqu" in body["detail"].lower()
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1


def test_expired_key_is_401(tenant_a, keys_a):
    ApiKey.objects.filter(prefix=keys_a.read[:12]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = bearer(keys_a.read).get(OFFICINES)
    problem(response, 401, "authentication-failed")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer lgo_unknown_key_xxxxxxxxxxxxxxxxxxxxxxxx", "Bearer", "Bearer a b", "Bearer nope"],
)
def test_unknown_or_malformed_key_is_401(tenant_a, header):
    response = Client(HTTP_AUTHORIZATION=header).get(OFFICINES)
    problem(response, 401, "authentication-failed")


def test_no_credentials_is_401_problem(client):
    response = client.get(OFFICINES)
    problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_key_of_deactivated_editor_is_401(tenant_a, keys_a):
    tenant_a.editor.is_active = False
    tenant_a.editor.save()
    problem(bearer(keys_a.write).get(PING), 401, "authentication-failed")


# --------------------------------------------------------------------------- scopes


def test_read_key_cannot_post(tenant_a, keys_a):
    response = bearer(keys_a.read).post(
        OFFICINES,
        {"finess": "760021832", "raison_sociale": "X"},
        content_type="application/json",
    )
    body = problem(response, 403, "permission-denied")
    assert "write" in body["detail"]
    assert not Officine.objects.filter(finess="760021832").exists()


def test_officine_limited_key_cannot_create_officines(tenant_a, keys_a):
    response = bearer(keys_a.officine).post(
        OFFICINES,
        {"finess": "760021832", "raison_sociale": "X"},
        content_type="application/json",
    )
    problem(response, 403, "permission-denied")


def test_session_users_read_and_only_writers_write(tenant_a, client_for):
    payload = {"finess": "760021832", "raison_sociale": "PHARMACIE NORMANDE"}
    for role in ("viewer", "pharmacist"):
        client = client_for(getattr(tenant_a, role))
        assert client.get(OFFICINES).status_code == 200
        response = client.post(OFFICINES, payload, content_type="application/json")
        problem(response, 403, "permission-denied")
    response = client_for(tenant_a.operator).post(
        OFFICINES, payload, content_type="application/json"
    )
    assert response.status_code == 201, response.content


def test_every_session_reader_may_ping_and_list_the_resources(tenant_a, client_for):
    for role in ("viewer", "pharmacist", "operator"):
        client = client_for(getattr(tenant_a, role))
        assert client.get(PING).json()["status"] == "ok", role
        assert "officines" in client.get("/api/v1/").json()["links"], role


def test_session_writes_need_the_csrf_token(tenant_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant_a.operator)
    session = client.session
    session["mfa_enrolled"] = True
    session.save()
    response = client.post(
        OFFICINES, {"finess": "760021832", "raison_sociale": "X"}, content_type="application/json"
    )
    body = problem(response, 403, "permission-denied")
    assert "CSRF" in body["detail"]
    assert not Officine.objects.filter(finess="760021832").exists()


def test_session_admin_without_totp_cannot_use_the_api(tenant_a):
    from allauth.mfa.models import Authenticator

    Authenticator.objects.filter(user=tenant_a.admin).delete()
    client = Client()
    client.force_login(tenant_a.admin)
    problem(client.get(OFFICINES), 403, "permission-denied")


def test_user_without_editor_or_officine_is_refused(db):
    from tests.factories import UserFactory

    problem(logged_in(UserFactory()).get(OFFICINES), 403, "permission-denied")


# --------------------------------------------------------------------------- throttling


def test_requests_beyond_the_rate_are_429_per_key(tenant_a, keys_a, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/minute", "api_session": "3/minute"},
    }
    client = bearer(keys_a.read)
    assert [client.get(PING).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(PING)
    problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # Another key has its own bucket.
    assert bearer(keys_a.write).get(PING).status_code == 200


# --------------------------------------------------------------------------- command


def test_create_api_key_command_prints_the_key_last(tenant_a):
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key",
        "--editor",
        tenant_a.editor.name,
        "--name",
        "LGO pharmacie",
        "--scopes",
        "read,write",
        "--officine",
        tenant_a.officine.finess,
        "--expires",
        (timezone.localdate() + timedelta(days=30)).isoformat(),
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip().splitlines()[-1]
    api_key = ApiKey.objects.get(key_hash=hash_key(raw))
    assert api_key.officine == tenant_a.officine
    assert timezone.localtime(api_key.expires_at).date() == timezone.localdate() + timedelta(
        days=30
    )
    assert timezone.localtime(api_key.expires_at).hour == 0
    assert raw not in err.getvalue()
    assert bearer(raw).get(PING).json()["officine"] == tenant_a.officine.finess


def test_create_api_key_command_accepts_an_editor_id(tenant_a):
    out = StringIO()
    call_command(
        "create_api_key",
        "--editor",
        str(tenant_a.editor.pk),
        "--name",
        "x",
        "--scopes",
        "read",
        stdout=out,
        stderr=StringIO(),
    )
    assert bearer(out.getvalue().strip().splitlines()[-1]).get(PING).status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ["--editor", "nobody", "--name", "x", "--scopes", "read"],
        ["--editor", "EditeurA", "--name", "x", "--scopes", "root"],
        ["--editor", "EditeurA", "--name", "x", "--scopes", "read", "--expires", "31/12/2030"],
        ["--editor", "EditeurA", "--name", "x", "--scopes", "read", "--officine", "123"],
    ],
)
def test_create_api_key_command_refuses_bad_input(tenant_a, tenant_b, args):
    with pytest.raises(CommandError):
        call_command("create_api_key", *args, stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_create_api_key_command_refuses_another_editors_officine(tenant_a, tenant_b):
    with pytest.raises(CommandError):
        call_command(
            "create_api_key",
            "--editor",
            "EditeurA",
            "--name",
            "x",
            "--scopes",
            "read",
            "--officine",
            tenant_b.officine.finess,
            stdout=StringIO(),
            stderr=StringIO(),
        )
