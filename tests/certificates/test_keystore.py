"""Private keys at rest: real AES-256-GCM envelopes, rotation, audit of every decryption."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from certificates import keystore, x509
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from certificates.ordering import csr_generate, request_create
from portal import sealing
from portal.models import AuditEvent
from tests.helpers.keystore import key_id, new_wrapping_key, run_rotation

pytestmark = pytest.mark.django_db


def public_hash(key) -> str:
    return x509.public_key_sha256(key.public_key())


@pytest.fixture
def make_request(tenant_a):
    """A saved request row holding `key` (encrypted with the current settings)."""

    def make(key=None, **fields) -> CertificateRequest:
        request = CertificateRequest.objects.create(
            editor=tenant_a.editor,
            officine=tenant_a.officine,
            profile="ORG_AUTH_CLI",
            services=["PSC"],
            requester_email="admin-tech@lgo.example",
            **{
                "common_name": "LGO",
                "key_mode": KeyMode.SERVER,
                "status": RequestStatus.CSR_READY,
                **fields,
            },
        )
        if key is not None:
            request.public_key_sha256 = public_hash(key)
            keystore.encrypt_private_key(private_key=key, request=request)
            request.save()
        return request

    return make


def decrypt_events(**filters):
    return AuditEvent.objects.filter(action="key.decrypt", **filters)


# --------------------------------------------------------------------------- round trip


def test_round_trip_through_the_database(make_request, shared_key, tenant_a, settings):
    request = make_request(shared_key)
    stored = CertificateRequest.objects.get(pk=request.pk)
    envelope = bytes(stored.encrypted_private_key)

    first = settings.KEY_ENCRYPTION_KEYS[0]
    assert envelope[0] == sealing.ENVELOPE_VERSION
    assert envelope[1:9].decode() == key_id(first) == stored.key_encryption_key_id
    der = x509.private_key_to_der(shared_key)
    assert der not in envelope  # encrypted, not encoded

    key = keystore.private_key_for(request=stored, actor=tenant_a.operator, reason="PKCS#12 export")
    assert key.private_numbers() == shared_key.private_numbers()

    event = decrypt_events().get()
    assert event.outcome == "success"
    assert event.actor == tenant_a.operator
    assert event.actor_label == tenant_a.operator.email
    assert event.editor_id == tenant_a.editor.pk
    assert (event.target_type, event.target_id) == ("certificaterequest", str(request.pk))
    assert event.reason == "PKCS#12 export"
    assert event.details == {"key_id": stored.key_encryption_key_id}


def test_two_encryptions_differ_nonce(make_request, shared_key):
    """A fresh nonce each time: the same key never produces the same envelope."""
    request = make_request()
    one = keystore.encrypt_private_key(private_key=shared_key, request=request)
    two = keystore.encrypt_private_key(private_key=shared_key, request=request)
    assert one != two
    assert one[9:21] != two[9:21]


def test_every_decryption_is_audited_and_tasks_are_system(make_request, shared_key):
    request = make_request(shared_key)
    for _ in range(3):
        keystore.private_key_for(request=request, actor=None, reason="campaign export")
    events = decrypt_events(target_id=str(request.pk))
    assert events.count() == 3
    assert set(events.values_list("actor_label", flat=True)) == {"system"}
    assert set(events.values_list("actor", flat=True)) == {None}


def test_api_key_like_actor_and_http_request_are_recorded(make_request, shared_key, tenant_a):
    class ApiKey:
        audit_label = "API key « LGO prod »"
        editor_id = tenant_a.editor.pk

    request = make_request(shared_key)
    keystore.private_key_for(request=request, actor=ApiKey(), reason="LGO download")
    http = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="LGO/5.1")
    http.user = tenant_a.admin
    keystore.private_key_for(request=request, actor=None, reason="UI", request_http=http)

    api_event, ui_event = decrypt_events().order_by("id")
    assert api_event.actor_label == "API key « LGO prod »"
    assert api_event.actor is None
    assert ui_event.actor == tenant_a.admin
    assert (ui_event.ip_address, ui_event.user_agent) == ("203.0.113.9", "LGO/5.1")


def test_reason_is_mandatory(make_request, shared_key):
    request = make_request(shared_key)
    with pytest.raises(ValueError):
        keystore.private_key_for(request=request, actor=None, reason="  ")
    assert not decrypt_events().exists()


def test_request_without_key(make_request):
    request = make_request(key_mode=KeyMode.CSR)
    with pytest.raises(sealing.NoPrivateKeyError):
        keystore.private_key_for(request=request, actor=None, reason="export")


# --------------------------------------------------------------------------- tampering


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize("index", [30, -1], ids=["ciphertext", "tag"])
def test_tampered_envelope_fails_and_is_audited(make_request, shared_key, tenant_a, index):
    request = make_request(shared_key)
    envelope = bytes(request.encrypted_private_key)
    CertificateRequest.objects.filter(pk=request.pk).update(
        encrypted_private_key=_flip(envelope, index % len(envelope))
    )
    request.refresh_from_db()
    with pytest.raises(sealing.TamperedKeyError):
        keystore.private_key_for(request=request, actor=tenant_a.operator, reason="export")
    event = decrypt_events().get()
    assert event.outcome == "failure"
    assert event.details["error"] == "tampered"


def test_envelope_copied_to_another_row_does_not_decrypt(make_request, shared_key):
    """The request id is associated data: a stolen envelope pasted elsewhere fails."""
    victim = make_request(shared_key)
    attacker = make_request(common_name="OTHER")
    CertificateRequest.objects.filter(pk=attacker.pk).update(
        encrypted_private_key=victim.encrypted_private_key,
        key_encryption_key_id=victim.key_encryption_key_id,
    )
    attacker.refresh_from_db()
    with pytest.raises(sealing.TamperedKeyError):
        keystore.private_key_for(request=attacker, actor=None, reason="export")


def test_header_pointing_to_another_configured_key_fails(make_request, shared_key, settings):
    """The header is authenticated too: renaming the key id cannot make another key try."""
    request = make_request(shared_key)
    second = new_wrapping_key()
    settings.KEY_ENCRYPTION_KEYS = [*settings.KEY_ENCRYPTION_KEYS, second]
    envelope = bytes(request.encrypted_private_key)
    request.encrypted_private_key = envelope[:1] + key_id(second).encode() + envelope[9:]
    with pytest.raises(sealing.TamperedKeyError):
        keystore.private_key_for(request=request, actor=None, reason="export")


def test_unknown_key_id_says_which_key_is_missing(make_request, shared_key, settings):
    request = make_request(shared_key)
    old_id = request.key_encryption_key_id
    settings.KEY_ENCRYPTION_KEYS = [new_wrapping_key()]
    with pytest.raises(sealing.UnknownKeyError, match=old_id) as info:
        keystore.private_key_for(request=request, actor=None, reason="export")
    assert info.value.code == "unknown_key"
    event = decrypt_events().get()
    assert (event.outcome, event.details) == ("failure", {"key_id": old_id, "error": "unknown_key"})


def test_garbage_is_not_an_envelope(make_request, shared_key):
    request = make_request(shared_key)
    request.encrypted_private_key = b"\x02" + bytes(request.encrypted_private_key)[1:]
    with pytest.raises(sealing.TamperedKeyError):
        keystore.private_key_for(request=request, actor=None, reason="export")


@pytest.mark.parametrize(
    "value, message",
    [
        ("not base64 !", "not base64"),
        (base64.b64encode(b"x" * 16).decode(), "32 bytes"),
    ],
)
def test_bad_wrapping_key_setting_is_a_configuration_error(settings, value, message):
    settings.KEY_ENCRYPTION_KEYS = [value]
    with pytest.raises(ImproperlyConfigured, match=message):
        sealing.wrapping_keys()


def test_wrapping_key_repr_hides_the_key():
    key = sealing.parse_wrapping_key(new_wrapping_key())
    assert base64.b64encode(key.key).decode() not in repr(key)
    assert key.key_id in repr(key)


# --------------------------------------------------------------------------- rotation


def test_first_key_encrypts_all_keys_decrypt(make_request, shared_key, settings):
    old, new = settings.KEY_ENCRYPTION_KEYS[0], new_wrapping_key()
    before = make_request(shared_key)
    settings.KEY_ENCRYPTION_KEYS = [new, old]
    after = make_request(shared_key, common_name="NEW")
    assert before.key_encryption_key_id == key_id(old)
    assert after.key_encryption_key_id == key_id(new)
    for request in (before, after):
        key = keystore.private_key_for(request=request, actor=None, reason="check")
        assert public_hash(key) == public_hash(shared_key)


def test_rotation_rewraps_everything_then_old_key_can_go(make_request, shared_key, settings):
    old, new = settings.KEY_ENCRYPTION_KEYS[0], new_wrapping_key()
    requests = [make_request(shared_key, common_name=f"LGO {n}") for n in range(5)]
    no_key = make_request(key_mode=KeyMode.CSR)  # CSR mode: nothing to re-wrap

    settings.KEY_ENCRYPTION_KEYS = [new, old]
    output = run_rotation("--batch-size", "2")
    assert "5 re-wrapped, 0 already current, 0 failed" in output
    assert key_id(new) in output

    settings.KEY_ENCRYPTION_KEYS = [new]  # the old key is gone from the settings
    for request in requests:
        request.refresh_from_db()
        assert request.key_encryption_key_id == key_id(new)
        assert bytes(request.encrypted_private_key)[1:9].decode() == key_id(new)
        key = keystore.private_key_for(request=request, actor=None, reason="check")
        assert public_hash(key) == public_hash(shared_key)
    no_key.refresh_from_db()
    assert no_key.encrypted_private_key is None

    rewraps = AuditEvent.objects.filter(action="key.rewrap")
    assert rewraps.count() == 5
    assert rewraps.first().details == {"from": key_id(old), "to": key_id(new)}
    assert rewraps.first().actor_label == "system"

    # Idempotent: a second run finds nothing to do and changes nothing.
    envelopes = {r.pk: bytes(r.encrypted_private_key) for r in requests}
    assert "0 re-wrapped, 0 already current, 0 failed" in run_rotation()
    for request in requests:
        request.refresh_from_db()
        assert bytes(request.encrypted_private_key) == envelopes[request.pk]


def test_rotation_repairs_a_stale_key_id_column(make_request, shared_key, settings):
    request = make_request(shared_key)
    CertificateRequest.objects.filter(pk=request.pk).update(key_encryption_key_id="")
    assert "0 re-wrapped, 1 already current, 0 failed" in run_rotation()
    request.refresh_from_db()
    assert request.key_encryption_key_id == key_id(settings.KEY_ENCRYPTION_KEYS[0])


def test_rotation_reports_keys_it_cannot_open_and_does_the_rest(make_request, shared_key, settings):
    lost, old, new = new_wrapping_key(), settings.KEY_ENCRYPTION_KEYS[0], new_wrapping_key()
    settings.KEY_ENCRYPTION_KEYS = [lost]
    orphan = make_request(shared_key, common_name="ORPHAN")
    settings.KEY_ENCRYPTION_KEYS = [old]
    fine = make_request(shared_key)

    settings.KEY_ENCRYPTION_KEYS = [new, old]  # `lost` is not configured any more
    out = StringIO()
    with pytest.raises(CommandError, match=f"requests {orphan.pk}"):
        call_command("rotate_key_encryption", stdout=out)
    assert "1 re-wrapped, 0 already current, 1 failed" in out.getvalue()
    fine.refresh_from_db()
    orphan.refresh_from_db()
    assert fine.key_encryption_key_id == key_id(new)
    assert orphan.key_encryption_key_id == key_id(lost)
    failure = AuditEvent.objects.get(action="key.rewrap", outcome="failure")
    assert failure.target_id == str(orphan.pk)


# --------------------------------------------------------------------------- dumps


def test_database_dump_holds_no_private_key(tenant_a, settings):
    """Generate real keys, then scan both serializer output and `manage.py dumpdata`."""
    requests = [
        request_create(
            officine=tenant_a.officine,
            profile="ORG_AUTH_CLI",
            services=["PSC"],
            common_name=f"LGO {n}",
            key_mode=KeyMode.SERVER,
            requester_email="admin-tech@lgo.example",
            enqueue=False,
        )
        for n in range(2)
    ]
    secrets: list[bytes] = []
    for request in requests:
        csr_generate(request_id=request.pk)
        request.refresh_from_db()
        key = keystore.private_key_for(request=request, actor=None, reason="test")
        der = x509.private_key_to_der(key)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        d = key.private_numbers().d
        secrets += [der, pem, d.to_bytes((d.bit_length() + 7) // 8, "big")]

    dumped = StringIO()
    call_command("dumpdata", "certificates.CertificateRequest", stdout=dumped)
    for text in (
        serializers.serialize("json", CertificateRequest.objects.all()),
        dumped.getvalue(),
    ):
        assert "PRIVATE KEY" not in text
        rows = json.loads(text)
        assert len(rows) == 2
        blobs = [text.encode()]
        for row in rows:
            assert row["fields"]["encrypted_private_key"]  # the envelope is there...
            blobs.append(base64.b64decode(row["fields"]["encrypted_private_key"]))
        for secret in secrets:
            assert base64.b64encode(secret).decode() not in text
            for blob in blobs:  # ...and neither it nor the text contains the key material
                assert secret not in blob
