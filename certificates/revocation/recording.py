"""Record a revocation learnt from IGC Santé: final, audited, and announced to listeners.

`certificate_revoked_by_ans` never clears or changes a revocation already recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from certificates.models import Certificate, RevocationReason
from certificates.revocation.models import (
    RevocationSource,
)
from portal.audit import audit_record
from portal.events import certificate_event_send

# RFC 5280 reasons → the ANS revocation causes the portal records (the ANS lifecycle rules).
REASONS = {
    "keyCompromise": RevocationReason.KEY_COMPROMISE,
    "cACompromise": RevocationReason.KEY_COMPROMISE,
    "cessationOfOperation": RevocationReason.CESSATION,
    "affiliationChanged": RevocationReason.DATA_CHANGE,
    "superseded": RevocationReason.DATA_CHANGE,
}
SOURCE_LABELS = {RevocationSource.CRL: "IGC Santé (CRL)", RevocationSource.OCSP: "IGC Santé (OCSP)"}


@transaction.atomic
def certificate_revoked_by_ans(
    *,
    certificate_id: int,
    revoked_at: datetime,
    reason: str,
    source: str,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Record that the CA revoked a live certificate (its date and reason); False if it was
    already revoked (never changed) or is gone. Coverage follows (post_save), alerts stop
    (they only consider live certificates), the editor's listeners hear of it."""
    locked = Certificate.objects.select_for_update().filter(pk=certificate_id).first()
    if locked is None or locked.revoked_at is not None:
        return False
    locked.revoked_at = revoked_at
    locked.revocation_reason = REASONS.get(reason, RevocationReason.OTHER)
    locked.revocation_source = source
    locked.save(update_fields=["revoked_at", "revocation_reason", "revocation_source"])
    label = SOURCE_LABELS[RevocationSource(source)]
    audit_record(
        action="certificate.revoked_by_ans",
        target=locked,
        reason=f"{label}: {reason or 'unspecified'}",
        details={
            "source": source,
            "reason": reason,
            "revoked_at": revoked_at.isoformat(),
            **(detail or {}),
        },
    )
    certificate_event_send(
        editor_id=locked.editor_id,
        event="certificate.revoked",
        certificate_id=locked.pk,
        context={
            "revoked_by": "ans",
            "source": label,
            "reason": reason,
            "revoked_at": revoked_at.isoformat(),
            "action": "order_new_certificate",
        },
    )
    return True
