"""The restore drill on a real PostgreSQL server: pg_dump, pg_restore into a fresh database,
then every table, audit event and encrypted secret checked. One secret that no longer opens
fails it (a flipped byte, a key-encryption key missing from the configuration)."""

from __future__ import annotations

import base64
import os
import shutil
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import CommandError, call_command
from django.db import connection

from certificates import keystore, x509
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from notifications.models import WebhookEndpoint, WebhookEvent
from notifications.webhooks.endpoints import endpoint_create
from ops.restore_drill import DrillError, run_drill
from portal.api.idempotency import _seal_body
from portal.audit import audit_record
from portal.models import AuditEvent, IdempotencyRecord

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not shutil.which("pg_dump"),
        reason="the restore drill needs PostgreSQL and pg_dump/pg_restore",
    ),
]


@pytest.fixture
def sealed_rows(tenant_a, shared_key):
    """Three requests holding real encrypted private keys, one webhook secret, audit events."""
    requests = []
    for n in range(3):
        request = CertificateRequest.objects.create(
            editor=tenant_a.editor,
            officine=tenant_a.officine,
            profile="ORG_AUTH_CLI",
            services=["PSC"],
            requester_email="admin-tech@lgo.example",
            common_name=f"LGO{n}",
            key_mode=KeyMode.SERVER,
            status=RequestStatus.CSR_READY,
            public_key_sha256=x509.public_key_sha256(shared_key.public_key()),
        )
        keystore.encrypt_private_key(private_key=shared_key, request=request)
        request.save()
        requests.append(request)
    endpoint, _secret = endpoint_create(
        editor=tenant_a.editor, url="https://lgo.example/hook", events=[WebhookEvent.EXPIRING]
    )
    reply = IdempotencyRecord.objects.create(
        owner="key:1", key="drill-1", method="POST", path="/api/v1/webhooks/", fingerprint="0" * 64
    )
    reply.body = _seal_body(reply, '{"secret": "whsec_drill"}')
    reply.save(update_fields=["body"])
    audit_record(action="drill.marker", editor=tenant_a.editor, reason="restore drill test")
    return requests, endpoint


def test_drill_passes_and_counts_everything(sealed_rows):
    out = StringIO()
    call_command("restore_drill", stdout=out)
    text = out.getvalue()
    mfa = Authenticator.objects.count()
    assert mfa >= 3  # tenant_a's staff enrolled TOTP: their secrets are sealed
    assert f"opened 3 private keys, 1 webhook secrets, {mfa} MFA secrets, 1 sealed API" in text
    assert f"{AuditEvent.objects.count()} audit events" in text
    assert "Restore drill passed." in text
    # The restored database is dropped afterwards.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s",
            [f"{connection.settings_dict['NAME']}_restore_drill"],
        )
        assert cursor.fetchone() is None


def test_one_flipped_byte_in_one_private_key_fails_the_drill(sealed_rows):
    requests, _endpoint = sealed_rows
    victim = requests[1]
    envelope = bytearray(victim.encrypted_private_key)
    envelope[-5] ^= 0x01  # inside the ciphertext/tag: GCM refuses it
    CertificateRequest.objects.filter(pk=victim.pk).update(encrypted_private_key=bytes(envelope))

    report = run_drill()
    assert not report.ok
    assert report.opened["private keys"] == 2
    assert report.failures == [
        f"certificates.CertificateRequest #{victim.pk}: encrypted_private_key does not open "
        "(tampered)"
    ]
    err = StringIO()
    with pytest.raises(CommandError, match="restore drill failed: 1 problem"):
        call_command("restore_drill", stdout=StringIO(), stderr=err)
    assert f"#{victim.pk}" in err.getvalue()


def test_a_webhook_secret_that_does_not_open_fails_the_drill(sealed_rows):
    _requests, endpoint = sealed_rows
    # Moved from another row: the envelope is bound to its endpoint id.
    other, _ = endpoint_create(
        editor=endpoint.editor, url="https://lgo.example/other", events=[WebhookEvent.EXPIRING]
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        secret_envelope=bytes(WebhookEndpoint.objects.get(pk=other.pk).secret_envelope)
    )
    report = run_drill()
    assert report.failures == [
        f"notifications.WebhookEndpoint #{endpoint.pk}: secret_envelope does not open (tampered)"
    ]


def test_missing_key_encryption_key_fails_the_drill(sealed_rows, settings):
    """The backup restored without the key-encryption keys kept elsewhere: nothing opens."""
    settings.KEY_ENCRYPTION_KEYS = [base64.b64encode(os.urandom(32)).decode()]
    report = run_drill()
    assert report.opened == {
        "private keys": 0,
        "webhook secrets": 0,
        "MFA secrets": 0,
        "sealed API replies": 0,
    }
    assert len(report.failures) == 5 + Authenticator.objects.count()
    assert all(
        f.endswith(("does not open (unknown_key)", "does not open (SealedBodyError)"))
        for f in report.failures
    ), report.failures


def test_target_must_differ_from_source():
    with pytest.raises(DrillError, match="must differ"):
        run_drill(target=connection.settings_dict["NAME"])
