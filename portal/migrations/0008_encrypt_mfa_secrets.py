# Data migration: TOTP secrets and recovery-code seeds (allauth's Authenticator.data) were
# stored in clear; they become AES-256-GCM envelopes under KEY_ENCRYPTION_KEYS, as
# portal.mfa_secrets writes them (decrypted back when reversed).

from django.db import migrations

# Frozen copies of portal.mfa_secrets' format: a migration must not change with the code.
PREFIX = "sealed:"
ASSOCIATED_DATA = b"mfa-secret"


def _map(data, change):
    result = dict(data or {})
    for field in ("secret", "seed"):
        if isinstance(result.get(field), str):
            result[field] = change(result[field])
    if isinstance(result.get("migrated_codes"), list):
        result["migrated_codes"] = [
            change(v) if isinstance(v, str) else v for v in result["migrated_codes"]
        ]
    return result


def _seal(text):
    from portal.sealing import seal_text

    if text.startswith(PREFIX):
        return text
    return PREFIX + seal_text(text, associated_data=ASSOCIATED_DATA)


def _unseal(text):
    from portal.sealing import unseal_text

    if not text.startswith(PREFIX):
        return text
    return unseal_text(text.removeprefix(PREFIX), associated_data=ASSOCIATED_DATA)


def _rewrite(apps, schema_editor, change):
    Authenticator = apps.get_model("mfa", "Authenticator")
    rows = Authenticator.objects.using(schema_editor.connection.alias)
    for authenticator in rows.only("pk", "data").order_by("pk").iterator():
        data = _map(authenticator.data, change)
        if data != authenticator.data:
            rows.filter(pk=authenticator.pk).update(data=data)


def encrypt_secrets(apps, schema_editor):
    _rewrite(apps, schema_editor, _seal)


def decrypt_secrets(apps, schema_editor):
    _rewrite(apps, schema_editor, _unseal)


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0007_user_language_chosen"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_secrets, decrypt_secrets, elidable=False)]
