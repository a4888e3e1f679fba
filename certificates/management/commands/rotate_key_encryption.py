"""Re-wrap every stored private key under the first KEY_ENCRYPTION_KEYS entry.

Rotation: put the new key first in KEY_ENCRYPTION_KEYS (old ones after it), run this,
then remove the old keys. Safe to run again: keys already under the first key are skipped.
Each batch commits on its own, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from certificates import keystore
from certificates.models import CertificateRequest
from portal.audit import audit_record

_FIELDS = (
    "pk",
    "editor_id",
    "profile",
    "common_name",
    "status",
    "encrypted_private_key",
    "key_encryption_key_id",
)


class Command(BaseCommand):
    help = "Re-encrypt stored private keys under the first key of KEY_ENCRYPTION_KEYS."

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
        if failed_ids:
            shown = ", ".join(str(pk) for pk in failed_ids[:20])
            raise CommandError(
                f"{len(failed_ids)} private key(s) could not be opened (requests {shown}"
                f"{', ...' if len(failed_ids) > 20 else ''}): is an old key missing from "
                "KEY_ENCRYPTION_KEYS?"
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
            changed: list[CertificateRequest] = []
            for request in rows:
                if not request.encrypted_private_key:
                    continue
                try:
                    moved = keystore.rewrap(request=request)
                except keystore.KeyStoreError as exc:
                    counts["failed"] += 1
                    failed.append(request.pk)
                    audit_record(
                        action="key.rewrap",
                        actor=keystore.SYSTEM,
                        target=request,
                        outcome="failure",
                        reason="key encryption key rotation",
                        details={"key_id": exc.key_id, "error": exc.code},
                    )
                    continue
                changed.append(request)
                if moved is None:
                    counts["current"] += 1
                    continue
                counts["rewrapped"] += 1
                audit_record(
                    action="key.rewrap",
                    actor=keystore.SYSTEM,
                    target=request,
                    reason="key encryption key rotation",
                    details={"from": moved[0], "to": moved[1]},
                )
            CertificateRequest.objects.bulk_update(
                changed, ["encrypted_private_key", "key_encryption_key_id"]
            )
