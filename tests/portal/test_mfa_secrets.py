"""TOTP secrets and recovery-code seeds are stored encrypted (issue 12, finding 6).

allauth's MFA adapter left `encrypt`/`decrypt` as no-ops: the secrets sat in clear in
`mfa_authenticator.data`. Everything here goes through allauth's own code paths.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import reverse

from portal import sealing
from portal.management.commands.demo_totp import current_code
from portal.mfa_secrets import PREFIX
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.helpers.keystore import key_id, new_wrapping_key, run_rotation

pytestmark = pytest.mark.django_db

migration = importlib.import_module("portal.migrations.0008_encrypt_mfa_secrets")


def raw_data(authenticator_id: int) -> str:
    """The column as the database holds it (what a dump or a backup shows)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE id = %s", [authenticator_id])
        return str(cursor.fetchone()[0])


def test_totp_and_recovery_seed_are_sealed_and_still_work(tenant_a):
    user = MembershipFactory(
        editor=tenant_a.editor, role="operator", user=UserFactory(email="op@x.fr")
    ).user
    secret = generate_totp_secret()
    totp = TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user)
    stored = raw_data(totp.instance.pk) + raw_data(codes.instance.pk)
    assert secret not in stored and PREFIX in stored
    assert codes.instance.data["seed"].startswith(PREFIX)
    # The login still asks for and accepts the code; a recovery code works too.
    client = Client()
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert RecoveryCodes(Authenticator.objects.get(pk=codes.instance.pk)).validate_code(
        codes.generate_codes()[0]
    )


def test_migration_encrypts_existing_rows_and_reverses(tenant_a):
    user = UserFactory(email="ancien@x.fr")
    secret = generate_totp_secret()
    seed = "ab" * 40
    totp = Authenticator.objects.create(user=user, type="totp", data={"secret": secret})
    recovery = Authenticator.objects.create(
        user=user,
        type="recovery_codes",
        data={"seed": seed, "used_mask": 0, "migrated_codes": ["12345678"]},
    )
    editor = SimpleNamespace(connection=connection)
    migration.encrypt_secrets(apps, editor)
    assert secret not in raw_data(totp.pk) and seed not in raw_data(recovery.pk)
    assert "12345678" not in raw_data(recovery.pk)
    migration.encrypt_secrets(apps, editor)  # twice: nothing sealed twice
    assert TOTP(Authenticator.objects.get(pk=totp.pk)).validate_code(current_code(secret))
    migration.decrypt_secrets(apps, editor)
    assert Authenticator.objects.get(pk=totp.pk).data == {"secret": secret}
    assert Authenticator.objects.get(pk=recovery.pk).data["migrated_codes"] == ["12345678"]


def test_rotation_rewraps_mfa_secrets(tenant_a, settings):
    user = UserFactory(email="rot@x.fr")
    secret = generate_totp_secret()
    totp = TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user)
    before = codes.generate_codes()
    old, new = settings.KEY_ENCRYPTION_KEYS[0], new_wrapping_key()
    settings.KEY_ENCRYPTION_KEYS = [new, old]
    output = run_rotation()
    count = Authenticator.objects.count()  # tenant A's enrolled staff too
    assert f"MFA secrets (TOTP, recovery codes): {count} re-wrapped, 0 already current" in output
    settings.KEY_ENCRYPTION_KEYS = [new]  # the old key is gone
    stored = Authenticator.objects.get(pk=totp.instance.pk).data["secret"]
    assert sealing.envelope_key_id(migration_envelope(stored)) == key_id(new)
    assert TOTP(Authenticator.objects.get(pk=totp.instance.pk)).validate_code(current_code(secret))
    assert RecoveryCodes(Authenticator.objects.get(pk=codes.instance.pk)).generate_codes() == before
    assert f"0 re-wrapped, {count} already current" in run_rotation()


def migration_envelope(value: str) -> bytes:
    import base64

    return base64.b64decode(value.removeprefix(PREFIX))
