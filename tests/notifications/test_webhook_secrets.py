"""Webhook signing secrets at rest: only an AES-256-GCM envelope bound to its row is stored;
the secret shown once still verifies deliveries; rotation re-wraps; a moved or altered
envelope fails closed (nothing is sent); the migration encrypts existing clear secrets."""

from __future__ import annotations

import base64
import json
import os
from io import StringIO

import pytest
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from notifications.events import emit
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.webhooks.delivery import delivery_attempt, verify
from notifications.webhooks.endpoints import endpoint_create, endpoint_regenerate_secret
from notifications.webhooks.secrets import (
    WebhookSecretError,
    secret_associated_data,
    webhook_secret,
)
from portal import sealing
from portal.api.keys import api_key_create
from portal.models import AuditEvent, IdempotencyRecord, Role
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.notifications import Receiver

pytestmark = pytest.mark.django_db

ISSUED = "certificate.issued"


def new_wrapping_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def key_id(value: str) -> str:
    return sealing.parse_wrapping_key(value).key_id


@pytest.fixture
def receiver(local_webhooks):
    with Receiver() as running:
        yield running


def raw_row(pk: int) -> dict[str, object]:
    """The endpoint's row as the database returns it, every column, no ORM in between."""
    table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608
        names = [column[0] for column in cursor.description]
        values = cursor.fetchone()
    return {
        name: bytes(value) if isinstance(value, memoryview) else value
        for name, value in zip(names, values, strict=True)
    }


def assert_not_in_row(secret: str, row: dict[str, object]) -> None:
    random_part = secret.removeprefix("whsec_")
    assert len(random_part) >= 40
    for name, value in row.items():
        if isinstance(value, bytes):
            assert random_part.encode() not in value, name
            assert random_part not in base64.b64encode(value).decode(), name
        else:
            assert random_part not in str(value), name


def deliver_issued(endpoint: WebhookEndpoint, certificate) -> list:
    """One `certificate.issued` delivery to this endpoint, attempted now."""
    ids = emit(editor_id=endpoint.editor_id, event=ISSUED, certificate_id=certificate.pk)
    return [delivery_attempt(delivery_id=pk) for pk in ids]


# --------------------------------------------------------------------------- at rest


def test_the_row_holds_an_envelope_never_the_clear_secret(tenant_a):
    endpoint, secret = endpoint_create(
        editor=tenant_a.editor, url="https://lgo.example/hooks", events=[ISSUED]
    )
    row = raw_row(endpoint.pk)
    assert "secret" not in row  # the clear column is gone
    envelope = row["secret_envelope"]
    assert isinstance(envelope, bytes) and len(envelope) > len(secret)
    assert sealing.envelope_key_id(envelope) == sealing.current_key_id()
    assert_not_in_row(secret, row)
    # The scan can fail: the same check finds the secret in a row that holds it.
    with pytest.raises(AssertionError):
        assert_not_in_row(secret, {**row, "secret_envelope": secret.encode()})
    assert webhook_secret(endpoint) == secret

    regenerated = endpoint_regenerate_secret(endpoint=endpoint)
    row = raw_row(endpoint.pk)
    assert regenerated != secret and webhook_secret(WebhookEndpoint.objects.get()) == regenerated
    assert_not_in_row(regenerated, row)
    assert_not_in_row(secret, row)


def test_the_secret_is_never_in_the_database_even_while_shown_once(
    tenant_a, client_for, local_webhooks
):
    """The page flow keeps the secret in the session (a database row) between the POST and
    the page that shows it: it is kept there encrypted."""
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("notifications:webhook_create"),
        {"url": "http://127.0.0.1:9/hook", "events": [ISSUED]},
    )
    endpoint = WebhookEndpoint.objects.get()
    secret = webhook_secret(endpoint)
    sessions = json.dumps([s.get_decoded() for s in Session.objects.all()])
    assert "notifications_show_once" in sessions  # waiting to be shown ...
    assert secret.removeprefix("whsec_") not in sessions  # ... but not in clear
    assert secret in client.get(response.url).content.decode()  # shown once, as before
    assert secret not in client.get(response.url).content.decode()

    # Bound to the user it was made for: copied into another admin's session, it does not open.
    client.post(reverse("notifications:webhook_secret", args=[endpoint.pk]))
    regenerated = webhook_secret(WebhookEndpoint.objects.get())
    other = client_for(
        MembershipFactory(editor=tenant_a.editor, role=Role.ADMIN, user=UserFactory(totp=True)).user
    )
    session = other.session
    session["notifications_show_once"] = client.session["notifications_show_once"]
    session.save()
    page = other.get(response.url)
    assert page.status_code == 200 and regenerated not in page.content.decode()
    assert regenerated in client.get(response.url).content.decode()  # its own user sees it


def test_api_answer_shows_it_and_an_idempotent_replay_is_stored_encrypted(
    tenant_a, cert_in, receiver
):
    key = api_key_create(
        editor=tenant_a.editor, name="hooks", scopes=["read", "write"], actor=tenant_a.admin
    )[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_IDEMPOTENCY_KEY="create-hook-1")
    payload = {"url": receiver.url, "events": [ISSUED]}
    first = api.post("/api/v1/webhooks/", payload, content_type="application/json")
    assert first.status_code == 201, first.content
    secret = first.json()["secret"]
    record = IdempotencyRecord.objects.get()
    assert record.body.startswith("sealed:")
    assert secret.removeprefix("whsec_") not in record.body
    replay = api.post("/api/v1/webhooks/", payload, content_type="application/json")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()  # the same answer, secret included
    assert WebhookEndpoint.objects.count() == 1
    assert_not_in_row(secret, raw_row(first.json()["id"]))

    # The secret of the API's answer verifies a real delivery.
    receiver.secret = secret
    [attempt] = deliver_issued(WebhookEndpoint.objects.get(), cert_in(900))
    assert attempt.outcome == "succeeded", attempt
    [request] = receiver.requests
    assert request["valid"]
    headers = request["headers"]
    assert verify(
        secret, headers["X-Portal-Timestamp"], headers["X-Portal-Signature"], request["body"]
    )

    # Regeneration over the API, with its own Idempotency-Key: sealed too.
    api.defaults["HTTP_IDEMPOTENCY_KEY"] = "regenerate-1"
    new = api.post(f"/api/v1/webhooks/{first.json()['id']}/secret/").json()["secret"]
    stored = IdempotencyRecord.objects.get(key="regenerate-1")
    assert stored.body.startswith("sealed:") and new.removeprefix("whsec_") not in stored.body


def test_a_sealed_replay_that_does_not_open_is_a_server_error(tenant_a, settings):
    key = api_key_create(
        editor=tenant_a.editor, name="hooks", scopes=["read", "write"], actor=tenant_a.admin
    )[1]
    api = Client(
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_IDEMPOTENCY_KEY="k",
        raise_request_exception=False,
    )
    payload = {"url": "https://lgo.example/hooks", "events": [ISSUED]}
    assert (
        api.post("/api/v1/webhooks/", payload, content_type="application/json").status_code == 201
    )
    settings.KEY_ENCRYPTION_KEYS = [new_wrapping_key()]  # the key that sealed it is gone
    replay = api.post("/api/v1/webhooks/", payload, content_type="application/json")
    assert replay.status_code == 500
    assert replay["Content-Type"] == "application/problem+json"
    assert WebhookEndpoint.objects.count() == 1  # not created a second time


# --------------------------------------------------------------------------- signing


def test_deliveries_verify_with_the_secret_shown_at_creation(tenant_a, cert_in, receiver):
    endpoint, shown = endpoint_create(editor=tenant_a.editor, url=receiver.url, events=[ISSUED])
    receiver.secret = shown
    [attempt] = deliver_issued(WebhookEndpoint.objects.get(pk=endpoint.pk), cert_in(900))
    assert attempt.outcome == "succeeded"
    assert receiver.requests[0]["valid"]
    # A receiver holding another secret would refuse it: the check is not vacuous.
    receiver.secret = "whsec_" + "A" * 43
    assert not verify(
        receiver.secret,
        receiver.requests[0]["headers"]["X-Portal-Timestamp"],
        receiver.requests[0]["headers"]["X-Portal-Signature"],
        receiver.requests[0]["body"],
    )


# --------------------------------------------------------------------------- tampering


def test_an_envelope_swapped_between_endpoints_fails_closed(
    tenant_a, tenant_b, cert_in, receiver, caplog
):
    mine, my_secret = endpoint_create(editor=tenant_a.editor, url=receiver.url, events=[ISSUED])
    theirs, their_secret = endpoint_create(
        editor=tenant_b.editor, url="https://lgo-b.example/hooks", events=[ISSUED]
    )
    mine_envelope, their_envelope = (
        raw_row(mine.pk)["secret_envelope"],
        raw_row(theirs.pk)["secret_envelope"],
    )
    # Row swap, as someone with write access to the database could do it.
    WebhookEndpoint.objects.filter(pk=mine.pk).update(secret_envelope=their_envelope)
    WebhookEndpoint.objects.filter(pk=theirs.pk).update(secret_envelope=mine_envelope)
    for endpoint in WebhookEndpoint.objects.all():
        with pytest.raises(WebhookSecretError, match="integrity check") as error:
            webhook_secret(endpoint)
        assert error.value.code == "tampered"

    receiver.secret = my_secret
    [attempt] = deliver_issued(WebhookEndpoint.objects.get(pk=mine.pk), cert_in(900))
    assert receiver.requests == []  # nothing was sent, signed with any secret
    assert attempt.outcome == "retry" and attempt.status_code is None
    assert "signing secret" in attempt.error and "integrity check" in attempt.error
    delivery = WebhookDelivery.objects.get(endpoint=mine)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "integrity check" in delivery.last_error
    event = AuditEvent.objects.get(action="webhook.secret_unreadable")
    assert (event.outcome, event.target_id) == ("failure", str(mine.pk))
    assert event.details["error"] == "tampered"
    assert event.editor_id == tenant_a.editor.pk
    assert any("not sent" in r.getMessage() for r in caplog.records)
    for secret in (my_secret, their_secret):
        assert secret not in caplog.text
        assert secret not in delivery.last_error and secret not in json.dumps(event.details)

    # Regenerating the secret repairs it: the queued retry goes out, signed with the new one.
    receiver.secret = endpoint_regenerate_secret(endpoint=WebhookEndpoint.objects.get(pk=mine.pk))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
    assert delivery_attempt(delivery_id=delivery.pk).outcome == "succeeded"
    assert receiver.requests[0]["valid"]


def test_an_altered_or_missing_envelope_fails_closed(tenant_a):
    endpoint, _secret = endpoint_create(
        editor=tenant_a.editor, url="https://lgo.example/hooks", events=[ISSUED]
    )
    envelope = bytearray(raw_row(endpoint.pk)["secret_envelope"])
    envelope[-1] ^= 1
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_envelope=bytes(envelope))
    with pytest.raises(WebhookSecretError) as altered:
        webhook_secret(WebhookEndpoint.objects.get())
    assert altered.value.code == "tampered"
    WebhookEndpoint.objects.update(secret_envelope=b"")
    with pytest.raises(WebhookSecretError) as missing:
        webhook_secret(WebhookEndpoint.objects.get())
    assert missing.value.code == "no_secret"


# --------------------------------------------------------------------------- rotation


def run_rotation(*args: str) -> str:
    out = StringIO()
    call_command("rotate_key_encryption", *args, stdout=out)
    return out.getvalue()


def test_rotation_rewraps_webhook_secrets_then_the_old_key_can_go(
    tenant_a, tenant_b, cert_in, receiver, settings
):
    old, new = settings.KEY_ENCRYPTION_KEYS[0], new_wrapping_key()
    created = [
        endpoint_create(editor=tenant.editor, url=receiver.url, events=[event])
        for tenant, event in (
            (tenant_a, ISSUED),
            (tenant_a, "certificate.revoked"),
            (tenant_b, ISSUED),
        )
    ]
    before = {endpoint.pk: raw_row(endpoint.pk)["secret_envelope"] for endpoint, _ in created}

    settings.KEY_ENCRYPTION_KEYS = [new, old]
    output = run_rotation("--batch-size", "2")
    assert "Webhook signing secrets: 3 re-wrapped, 0 already current, 0 failed." in output

    settings.KEY_ENCRYPTION_KEYS = [new]  # the old key is gone from the settings
    for endpoint, shown in created:
        row = raw_row(endpoint.pk)
        assert row["secret_envelope"] != before[endpoint.pk]
        assert sealing.envelope_key_id(row["secret_envelope"]) == key_id(new)
        assert_not_in_row(shown, row)
        assert webhook_secret(WebhookEndpoint.objects.get(pk=endpoint.pk)) == shown
    # Still bound to its row after the re-wrap.
    with pytest.raises(sealing.TamperedKeyError):
        sealing.unseal(
            raw_row(created[0][0].pk)["secret_envelope"],
            associated_data=secret_associated_data(created[1][0].pk),
            keys=sealing.wrapping_keys(),
        )
    # A real delivery is signed with the secret shown at creation, under the new key only.
    receiver.secret = created[0][1]
    [attempt] = deliver_issued(WebhookEndpoint.objects.get(pk=created[0][0].pk), cert_in(900))
    assert attempt.outcome == "succeeded"
    assert [r["valid"] for r in receiver.requests] == [True]

    rewraps = AuditEvent.objects.filter(action="webhook.secret_rewrap")
    assert rewraps.count() == 3
    assert rewraps.first().details == {"from": key_id(old), "to": key_id(new)}
    assert rewraps.first().actor_label == "system"

    # Idempotent: a second run re-wraps nothing and changes nothing.
    envelopes = {e.pk: raw_row(e.pk)["secret_envelope"] for e, _ in created}
    assert "Webhook signing secrets: 0 re-wrapped, 3 already current, 0 failed." in (run_rotation())
    assert envelopes == {e.pk: raw_row(e.pk)["secret_envelope"] for e, _ in created}


def test_rotation_reports_webhook_secrets_it_cannot_open_and_does_the_rest(tenant_a, settings):
    lost, old, new = new_wrapping_key(), settings.KEY_ENCRYPTION_KEYS[0], new_wrapping_key()
    settings.KEY_ENCRYPTION_KEYS = [lost]
    orphan, _ = endpoint_create(
        editor=tenant_a.editor, url="https://lgo.example/lost", events=[ISSUED]
    )
    settings.KEY_ENCRYPTION_KEYS = [old]
    fine, shown = endpoint_create(
        editor=tenant_a.editor, url="https://lgo.example/fine", events=[ISSUED]
    )
    WebhookEndpoint.objects.create(  # no secret at all: nothing to re-wrap, not a failure
        editor=tenant_a.editor, url="https://lgo.example/none", events=[ISSUED]
    )

    settings.KEY_ENCRYPTION_KEYS = [new, old]  # `lost` is not configured any more
    out = StringIO()
    with pytest.raises(CommandError, match=f"webhook secret\\(s\\) could not be opened "
                       f"\\(endpoints {orphan.pk}\\)"):  # fmt: skip
        call_command("rotate_key_encryption", stdout=out)
    assert "Webhook signing secrets: 1 re-wrapped, 0 already current, 1 failed." in (out.getvalue())
    assert sealing.envelope_key_id(raw_row(fine.pk)["secret_envelope"]) == key_id(new)
    assert sealing.envelope_key_id(raw_row(orphan.pk)["secret_envelope"]) == key_id(lost)
    assert webhook_secret(WebhookEndpoint.objects.get(pk=fine.pk)) == shown
    with pytest.raises(WebhookSecretError) as unknown:
        webhook_secret(WebhookEndpoint.objects.get(pk=orphan.pk))
    assert unknown.value.code == "unknown_key" and unknown.value.key_id == key_id(lost)
    failure = AuditEvent.objects.get(action="webhook.secret_rewrap", outcome="failure")
    assert failure.target_id == str(orphan.pk)
    assert failure.details == {"key_id": key_id(lost), "error": "unknown_key"}


# --------------------------------------------------------------------------- migration


@pytest.mark.django_db(transaction=True)
def test_migration_encrypts_existing_clear_secrets_and_back(tenant_a):
    before = [("notifications", "0002_alertlog_alert_latest")]
    after = [("notifications", "0003_webhook_secret_envelope")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old_apps = executor.loader.project_state(before).apps
        OldEndpoint = old_apps.get_model("notifications", "WebhookEndpoint")
        clear = [f"whsec_{n}-" + base64.urlsafe_b64encode(os.urandom(32)).decode() for n in (1, 2)]
        rows = [
            OldEndpoint.objects.create(
                editor_id=tenant_a.editor.pk,
                url=f"https://lgo.example/{n}",
                events=[ISSUED],
                secret=secret,
            )
            for n, secret in enumerate(clear)
        ]

        executor = MigrationExecutor(connection)
        executor.migrate(after)
        for row, secret in zip(rows, clear, strict=True):
            raw = raw_row(row.pk)
            assert "secret" not in raw
            assert sealing.envelope_key_id(raw["secret_envelope"]) == sealing.current_key_id()
            assert_not_in_row(secret, raw)
            assert webhook_secret(WebhookEndpoint.objects.get(pk=row.pk)) == secret

        executor = MigrationExecutor(connection)
        executor.migrate(before)  # reversible: the clear column comes back, filled
        assert [OldEndpoint.objects.get(pk=row.pk).secret for row in rows] == clear
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert "secret_envelope" in raw_row(rows[0].pk)
