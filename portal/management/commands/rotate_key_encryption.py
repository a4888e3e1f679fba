"""Re-wrap every sealed secret (private keys, webhook signing secrets, MFA secrets...) under
the first KEY_ENCRYPTION_KEYS entry.

Rotation: put the new key first in KEY_ENCRYPTION_KEYS (old ones after it), run this,
then remove the old keys. Safe to run again: envelopes already under the first key are
skipped. Each batch commits on its own, so an interrupted run resumes where it stopped.
What is rotated is what the apps registered (`portal.sealing.register_rotation`).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from portal.audit import SYSTEM, audit_record
from portal.sealing import ROTATIONS, Rotation, current_key_id


class Command(BaseCommand):
    help = "Re-encrypt every sealed secret under the first key of KEY_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        current = current_key_id()
        self.stdout.write(f"Key encryption key {current}.")
        problems = []
        for rotation in ROTATIONS:
            counts = {"rewrapped": 0, "current": 0, "failed": 0}
            failed: list[int] = []
            ids = list(rotation.queryset(current).order_by("pk").values_list("pk", flat=True))
            for start in range(0, len(ids), batch_size):
                _rewrap_batch(rotation, current, ids[start : start + batch_size], counts, failed)
            self.stdout.write(
                f"{rotation.label}: {counts['rewrapped']} re-wrapped, "
                f"{counts['current']} already current, {counts['failed']} failed."
            )
            if failed:
                problems.append(
                    f"{len(failed)} {rotation.noun}(s) could not be opened "
                    f"({rotation.rows} {_shown(failed)})"
                )
        if problems:
            raise CommandError(
                "; ".join(problems) + ": is an old key missing from KEY_ENCRYPTION_KEYS?"
            )


def _rewrap_batch(
    rotation: Rotation, current: str, ids: list[int], counts: dict[str, int], failed: list[int]
) -> None:
    """One transaction per batch; rows locked so a concurrent write is not lost. Every move
    and every failure is audited."""
    with transaction.atomic():
        rows = list(
            rotation.queryset(current).select_for_update().filter(pk__in=ids).order_by("pk")
        )
        opened = []
        for row in rows:
            try:
                moved = rotation.rewrap(row)
            except rotation.error as exc:
                counts["failed"] += 1
                failed.append(row.pk)
                audit_record(
                    action=rotation.action,
                    actor=SYSTEM,
                    target=row,
                    outcome="failure",
                    reason="key encryption key rotation",
                    details={"key_id": exc.key_id, "error": exc.code},
                )
                continue
            # Saved even when current: a rewrap may repair a stale key-id column beside it.
            opened.append(row)
            if moved is None:
                counts["current"] += 1
                continue
            counts["rewrapped"] += 1
            audit_record(
                action=rotation.action,
                actor=SYSTEM,
                target=row,
                reason="key encryption key rotation",
                details={"from": moved[0], "to": moved[1]},
            )
        if opened:
            type(opened[0]).objects.bulk_update(opened, list(rotation.fields))


def _shown(ids: list[int]) -> str:
    return ", ".join(str(pk) for pk in ids[:20]) + (", ..." if len(ids) > 20 else "")
