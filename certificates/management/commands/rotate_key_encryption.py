"""Re-wrap every stored private key, webhook signing secret and MFA secret (TOTP, recovery
codes) under the first KEY_ENCRYPTION_KEYS entry.

Rotation: put the new key first in KEY_ENCRYPTION_KEYS (old ones after it), run this,
then remove the old keys. Safe to run again: envelopes already under the first key are
skipped. Each batch commits on its own, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from certificates import keystore
from certificates.models import CertificateRequest
from notifications.models import WebhookEndpoint
from notifications.webhooks import WebhookSecretError, webhook_secret_rewrap
from portal.audit import audit_record
from portal.mfa_secrets import authenticator_rewrap

_FIELDS = (
    "pk",
    "editor_id",
    "profile",
    "common_name",
    "status",
    "encrypted_private_key",
    "key_encryption_key_id",
)


_WEBHOOK_FIELDS = ("pk", "editor_id", "url", "secret_envelope")


class Command(BaseCommand):
    help = (
        "Re-encrypt stored private keys and webhook signing secrets under the first key of "
        "KEY_ENCRYPTION_KEYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        current = keystore.current_key_id()
        candidates = (
            CertificateRequest.objects.filter(encrypted_private_key__isnull=False)
            .exclude(key_encryption_key_id=current)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        counts = {"rewrapped": 0, "current": 0, "failed": 0}
        failed_ids: list[int] = []
        batch: list[int] = []
        for pk in candidates.iterator(chunk_size=batch_size):
            batch.append(pk)
            if len(batch) == batch_size:
                self._rewrap_batch(batch, counts, failed_ids)
                batch = []
        if batch:
            self._rewrap_batch(batch, counts, failed_ids)

        self.stdout.write(
            f"Key encryption key {current}: {counts['rewrapped']} re-wrapped, "
            f"{counts['current']} already current, {counts['failed']} failed."
        )
        hooks = self._rewrap_webhook_secrets(batch_size)
        self.stdout.write(
            f"Webhook signing secrets: {hooks['rewrapped']} re-wrapped, "
            f"{hooks['current']} already current, {hooks['failed']} failed."
        )
        mfa = self._rewrap_mfa_secrets(batch_size)
        self.stdout.write(
            f"MFA secrets (TOTP, recovery codes): {mfa['rewrapped']} re-wrapped, "
            f"{mfa['current']} already current, {mfa['failed']} failed."
        )
        problems = []
        if mfa["failed_ids"]:
            problems.append(
                f"{len(mfa['failed_ids'])} MFA secret(s) could not be opened "
                f"(authenticators {_shown(mfa['failed_ids'])})"
            )
        if failed_ids:
            problems.append(
                f"{len(failed_ids)} private key(s) could not be opened (requests "
                f"{_shown(failed_ids)})"
            )
        if hooks["failed_ids"]:
            problems.append(
                f"{len(hooks['failed_ids'])} webhook secret(s) could not be opened "
                f"(endpoints {_shown(hooks['failed_ids'])})"
            )
        if problems:
            raise CommandError(
                "; ".join(problems) + ": is an old key missing from KEY_ENCRYPTION_KEYS?"
            )

    def _rewrap_batch(self, ids: list[int], counts: dict[str, int], failed: list[int]) -> None:
        """One transaction per batch; rows locked so a concurrent generation is not lost."""
        with transaction.atomic():
            rows = list(
                CertificateRequest.objects.select_for_update()
                .filter(pk__in=ids)
                .only(*_FIELDS)
                .order_by("pk")
            )
            keyed = [r for r in rows if r.encrypted_private_key]
            _rewrap_rows(
                keyed,
                rewrap=lambda request: keystore.rewrap(request=request),
                error=keystore.KeyStoreError,
                action="key.rewrap",
                counts=counts,
                failed=failed,
            )
            # Every row that opened: `rewrap` also repairs a stale key_encryption_key_id
            # column next to an envelope that is already current.
            CertificateRequest.objects.bulk_update(
                [r for r in keyed if r.pk not in failed],
                ["encrypted_private_key", "key_encryption_key_id"],
            )

    def _rewrap_webhook_secrets(self, batch_size: int) -> dict:
        """Every endpoint (a few per editor: the envelope header is read here, not in SQL)."""
        counts: dict = {"rewrapped": 0, "current": 0, "failed": 0, "failed_ids": []}
        ids = list(WebhookEndpoint.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), batch_size):
            self._rewrap_webhook_batch(ids[start : start + batch_size], counts)
        return counts

    def _rewrap_webhook_batch(self, ids: list[int], counts: dict) -> None:
        with transaction.atomic():
            rows = list(
                WebhookEndpoint.objects.select_for_update()
                .filter(pk__in=ids)
                .only(*_WEBHOOK_FIELDS)
                .order_by("pk")
            )
            # No secret: nothing to re-wrap (deliveries fail until it is regenerated).
            changed = _rewrap_rows(
                [e for e in rows if e.secret_envelope],
                rewrap=webhook_secret_rewrap,
                error=WebhookSecretError,
                action="webhook.secret_rewrap",
                counts=counts,
                failed=counts["failed_ids"],
            )
            WebhookEndpoint.objects.bulk_update(changed, ["secret_envelope"])

    def _rewrap_mfa_secrets(self, batch_size: int) -> dict:
        from allauth.mfa.models import Authenticator

        counts: dict = {"rewrapped": 0, "current": 0, "failed": 0, "failed_ids": []}
        ids = list(Authenticator.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), batch_size):
            with transaction.atomic():
                rows = list(
                    Authenticator.objects.select_for_update()
                    .filter(pk__in=ids[start : start + batch_size])
                    .order_by("pk")
                )
                changed = _rewrap_rows(
                    rows,
                    rewrap=authenticator_rewrap,
                    error=keystore.KeyStoreError,
                    action="mfa.secret_rewrap",
                    counts=counts,
                    failed=counts["failed_ids"],
                )
                Authenticator.objects.bulk_update(changed, ["data"])
        return counts


def _rewrap_rows(
    rows: list, *, rewrap: Callable, error: type[Exception], action: str, counts: dict, failed: list
) -> list:
    """Re-wrap each row's envelope (`rewrap(row)`: (from, to) key ids, None when already under
    the current key), auditing every move and failure. Returns the rows to save."""
    changed = []
    for row in rows:
        try:
            moved = rewrap(row)
        except error as exc:
            counts["failed"] += 1
            failed.append(row.pk)
            audit_record(
                action=action,
                actor=keystore.SYSTEM,
                target=row,
                outcome="failure",
                reason="key encryption key rotation",
                details={"key_id": exc.key_id, "error": exc.code},
            )
            continue
        if moved is None:
            counts["current"] += 1
            continue
        counts["rewrapped"] += 1
        changed.append(row)
        audit_record(
            action=action,
            actor=keystore.SYSTEM,
            target=row,
            reason="key encryption key rotation",
            details={"from": moved[0], "to": moved[1]},
        )
    return changed


def _shown(ids: list[int]) -> str:
    return ", ".join(str(pk) for pk in ids[:20]) + (", ..." if len(ids) > 20 else "")
