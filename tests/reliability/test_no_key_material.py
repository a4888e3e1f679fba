"""No private key material anywhere but the encrypted envelope and the requested PKCS#12,
and no webhook signing secret anywhere but its envelope and the answer that shows it once.

A full workflow runs with every logger at DEBUG (SQL included): a webhook endpoint created
over the API (with an Idempotency-Key, so its answer is stored for replays), a server-mode
request whose key the portal generates, the certificate issued by the (demo) CA from its CSR
and imported (a signed `certificate.issued` delivery reaches a real local receiver), a
PKCS#12 export, a renewal campaign that generates a second key, then the webhook secret
regenerated on its page (kept in the session until shown). Then everything the portal wrote
or said is scanned for the two private keys and the two webhook secrets: the database
(`dumpdata`, all apps, and the decoded sessions), every log record, the outbox messages, the
audit events, the API's JSON and the pages of the request, the certificate and the webhook.
"""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.test import Client

from certificates import keystore
from certificates import x509 as igc
from certificates.models import CampaignStatus, CertificateRequest, RenewalCampaign
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.webhooks.secrets import webhook_secret
from portal import sealing
from portal.api.keys import api_key_create
from portal.models import AuditEvent, OutboxMessage
from tests.helpers.notifications import Receiver
from tests.helpers.secrets import flat_text, leaks, secret_leaks
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db

PASSPHRASE = "phrase de passe tres solide"
REQUESTS = "/api/v1/certificate-requests/"


def _totp_now(secret: str) -> str:
    from portal.management.commands.demo_totp import current_code

    return current_code(secret)


def decrypt(request: CertificateRequest):
    der = sealing.unseal(
        bytes(request.encrypted_private_key),
        associated_data=keystore.associated_data_for(request.pk),
        keys=sealing.wrapping_keys(),
    )
    return serialization.load_der_private_key(der, password=None)


@pytest.fixture
def all_loggers_at_debug(caplog):
    """Every logger at DEBUG and SQL logged with its parameters, for the whole test."""
    caplog.set_level(logging.DEBUG)
    changed = []
    for name in ["", *logging.root.manager.loggerDict]:
        logger = logging.getLogger(name)
        changed.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.DEBUG)
        logger.propagate = True  # so caplog (on the root logger) sees them all
    previous = connection.force_debug_cursor
    connection.force_debug_cursor = True  # django.db.backends logs each query and params
    yield caplog
    connection.force_debug_cursor = previous
    for logger, level, propagate in changed:
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def receiver(settings):
    """A real HTTP receiver on 127.0.0.1 that checks the webhook signatures."""
    settings.WEBHOOK_ALLOW_HTTP_LOCALHOST = True
    settings.WEBHOOK_TIMEOUT = 3
    with Receiver() as running:
        yield running


def test_private_keys_never_leave_their_envelope(
    tenant_a,
    receiver,
    pki,
    trust_anchors,
    all_loggers_at_debug,
    django_capture_on_commit_callbacks,
    settings,
    tmp_path,
):
    from portal.celery import app

    caplog = all_loggers_at_debug
    app.conf.task_always_eager = True  # the outbox's tasks run in this process
    settings.CELERY_TASK_ALWAYS_EAGER = True
    key = api_key_create(
        editor=tenant_a.editor,
        name="export",
        scopes=["read", "write", "keys:export"],
        actor=tenant_a.admin,
    )[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    officine = tenant_a.officine

    # 0. A webhook endpoint over the API; its answer (with the secret) is kept for replays.
    hook = api.post(
        "/api/v1/webhooks/",
        {"url": receiver.url, "events": ["certificate.issued"]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="hook-1",
    )
    assert hook.status_code == 201, hook.content
    receiver.secret = first_secret = hook.json()["secret"]

    # 1. A server-mode request: the portal makes the key and the CSR (eager task on commit).
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            REQUESTS,
            {
                "finess": officine.finess,
                "profile": "ORG_AUTH_CLI",
                "services": ["INSI"],
                "common_name": "INSI-AUTO",
                "key_mode": "server",
                "requester_email": "admin-tech@lgo.example",
            },
            content_type="application/json",
        )
    assert created.status_code == 202, created.content
    request = CertificateRequest.objects.get(pk=created.json()["id"])
    assert request.status == "csr_ready" and request.encrypted_private_key
    first_key = decrypt(request)

    # 2. The CA issues from the CSR; the certificate is imported against the request, and
    #    the endpoint gets a signed `certificate.issued` (eager task on commit).
    issued = pki.issue(csr_pem=request.csr_pem.encode(), profile=igc.Profile.ORG_AUTH_CLI)
    with django_capture_on_commit_callbacks(execute=True):
        imported = api.post(
            f"/api/v1/certificates/import/?request={request.pk}",
            issued.public_bytes(serialization.Encoding.PEM),
            content_type="application/x-pem-file",
        )
    assert imported.status_code == 201, imported.content
    certificate_id = imported.json()["results"][0]["certificate"]["id"]
    assert [r["valid"] for r in receiver.requests] == [True]  # signed with the shown secret
    assert WebhookDelivery.objects.get().status == "succeeded"

    # 3. PKCS#12: the only place the key may appear, under the passphrase.
    exported = api.post(
        f"/api/v1/certificates/{certificate_id}/pkcs12/",
        {"passphrase": PASSPHRASE, "profile": "modern"},
        content_type="application/json",
    )
    assert exported.status_code == 200, exported.content
    p12_key, p12_cert, _chain = pkcs12.load_key_and_certificates(
        exported.content, PASSPHRASE.encode()
    )
    assert p12_key.private_numbers() == first_key.private_numbers()  # really the key
    assert p12_cert.serial_number == issued.serial_number

    # 4. A renewal campaign: a second key, generated by the campaign task.
    with django_capture_on_commit_callbacks(execute=True):
        campaign = api.post(
            "/api/v1/campaigns/",
            {
                "name": "Renouvellement",
                "requester_email": "admin-tech@lgo.example",
                "certificate_ids": [certificate_id],
            },
            content_type="application/json",
        )
    assert campaign.status_code == 202, campaign.content
    assert RenewalCampaign.objects.get().status == CampaignStatus.DONE
    renewal = CertificateRequest.objects.get(renews_id=certificate_id)
    assert renewal.status == "csr_ready"
    keys = {"first": first_key, "renewal": decrypt(renewal)}

    # What the API and the pages say about all this.
    web = logged_in(tenant_a.admin)
    haystacks = {}
    for path in (
        f"{REQUESTS}{request.pk}/",
        f"{REQUESTS}{renewal.pk}/",
        REQUESTS,
        f"/api/v1/certificates/{certificate_id}/",
        "/api/v1/certificates/",
        f"/api/v1/campaigns/{RenewalCampaign.objects.get().pk}/",
        "/api/v1/webhooks/",
        f"/api/v1/webhooks/{hook.json()['id']}/",
        f"/api/v1/webhooks/{hook.json()['id']}/deliveries/",
    ):
        response = api.get(path)
        assert response.status_code == 200, (path, response.content)
        haystacks[f"API {path}"] = response.content.decode()
    for path in (
        f"/certificates/requests/{request.pk}/",
        f"/certificates/requests/{renewal.pk}/",
        f"/certificates/{certificate_id}/",
        "/settings/audit/",
        "/settings/audit/export/",
        "/notifications/settings/",
        f"/notifications/webhooks/{hook.json()['id']}/",
    ):
        response = web.get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content) if response.streaming else response.content
        haystacks[f"page {path}"] = body.decode()

    # 5. A new webhook secret on its page: kept in the session until the next page shows it.
    regenerated = web.post(f"/notifications/webhooks/{hook.json()['id']}/secret/")
    assert regenerated.status_code == 302
    second_secret = webhook_secret(WebhookEndpoint.objects.get())
    assert second_secret != first_secret
    secrets = {"first": first_secret, "regenerated": second_secret}

    # 6. MFA: a TOTP device and recovery codes through allauth's own code, which calls the
    #    portal's MFA adapter; their secrets must be stored encrypted (issue 12, finding 6).
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from tests.factories import UserFactory

    enrolling = UserFactory(email="mfa@lgo.example")
    totp_secret = generate_totp_secret()
    TOTP.activate(enrolling, totp_secret)
    codes = RecoveryCodes.activate(enrolling)
    recovery_seed = codes.instance.data["seed"]
    from portal.mfa_secrets import unseal as mfa_unseal

    recovery_seed = mfa_unseal(recovery_seed)
    assert len(totp_secret) >= 32 and len(recovery_seed) >= 40
    mfa_secrets = {"TOTP secret": totp_secret, "recovery-code seed": recovery_seed}
    assert TOTP(Authenticator.objects.get(type="totp", user=enrolling)).validate_code(
        _totp_now(totp_secret)
    )  # allauth still reads it back

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    haystacks["dumpdata"] = dump.getvalue()
    haystacks["sessions, decoded"] = json.dumps(
        [session.get_decoded() for session in Session.objects.all()]
    )
    assert "notifications_show_once" in haystacks["sessions, decoded"]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = caplog.records
    assert any(r.name == "django.db.backends" for r in records)  # SQL was really logged
    haystacks["log records"] = "\n".join(formatter.format(r) for r in records)
    haystacks["outbox kwargs"] = json.dumps(list(OutboxMessage.objects.values("task", "kwargs")))
    haystacks["audit events"] = json.dumps(
        list(AuditEvent.objects.values("action", "details", "reason", "target_label")),
        default=str,
    )
    assert OutboxMessage.objects.filter(task="certificates.tasks.generate_csr").exists()
    assert AuditEvent.objects.filter(action="key.decrypt").exists()

    # The scan can fail: the key's own PEM, and the envelope in the dump, are found.
    own_pem = first_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    assert len(leaks({"control": own_pem}, {"first": first_key})) >= 3
    envelope = base64.b64encode(bytes(request.encrypted_private_key)).decode()
    assert envelope in haystacks["dumpdata"]  # encrypted: fine to back up
    assert len(secret_leaks({"control": hook.content.decode()}, secrets)) == 2
    webhook_envelope = bytes(WebhookEndpoint.objects.get().secret_envelope)
    assert base64.b64encode(webhook_envelope).decode() in haystacks["dumpdata"]

    assert leaks(haystacks, keys) == []
    assert secret_leaks(haystacks, secrets) == []
    assert [
        f"{what} in {place}"
        for place, text in haystacks.items()
        for what, secret in mfa_secrets.items()
        if secret in flat_text(text)
    ] == []


def test_an_unexpected_api_error_is_a_problem_without_traceback(
    tenant_a, settings, monkeypatch, caplog
):
    """Even with DEBUG on, an exception in an API view is problem JSON: no Django error
    page, no traceback, nothing of the exception's message."""
    from certificates.api.certificates import CertificateViewSet

    secret = "-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"

    def explode(self, request, *args, **kwargs):
        raise RuntimeError(f"unexpected failure holding {secret}")

    monkeypatch.setattr(CertificateViewSet, "list", explode)
    key = api_key_create(
        editor=tenant_a.editor, name="lecture", scopes=["read"], actor=tenant_a.admin
    )[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}", raise_request_exception=False)
    for debug in (False, True):
        settings.DEBUG = debug
        response = api.get("/api/v1/certificates/")
        assert response.status_code == 500
        assert response["Content-Type"] == "application/problem+json"
        body = response.content.decode()
        problem = json.loads(body)
        assert problem["status"] == 500 and problem["type"].endswith("/server-error")
        for marker in ("Traceback", "RuntimeError", "PRIVATE KEY", 'File "', "Django Version"):
            assert marker not in body
    # The traceback is for the operators' log only.
    assert any(r.exc_info for r in caplog.records if r.name == "portal.api")
