"""The import's trail: audit events (certificate imported, file refused), the issued event.

`certificate.issued` goes out as a kernel event (`portal.events`); `notifications` turns it
into LGO webhook deliveries.
"""

from __future__ import annotations

from certificates.importing.context import ISSUED_EVENT, ImportContext
from certificates.importing.outcomes import ImportResult
from certificates.models import Certificate, CertificateRequest
from portal.audit import audit_record
from portal.events import certificate_event_send
from portal.models import AuditEvent

AUDIT_ACTION = "certificate.import"


def audit_import(
    ctx: ImportContext,
    certificate: Certificate,
    filename: str,
    request: CertificateRequest | None = None,
    predecessor: Certificate | None = None,
    created_officine: bool = False,
) -> None:
    audit_record(
        action=AUDIT_ACTION,
        actor=ctx.actor,
        editor=ctx.editor,
        target=certificate,
        request=ctx.http_request,
        details={
            "file": filename[:200],
            "fingerprint_sha256": certificate.fingerprint_sha256,
            "chain_status": certificate.chain_status,
            "environment": certificate.environment,
            "request": request.pk if request else None,
            "replaces": predecessor.pk if predecessor else None,
            "officine_created": created_officine,
        },
    )
    if ctx.announces_issued:  # inside the caller's transaction: receivers write with it
        certificate_event_send(
            editor_id=ctx.editor.pk, event=ISSUED_EVENT, certificate_id=certificate.pk
        )


def audit_failure(ctx: ImportContext, filename: str, results: list[ImportResult]) -> None:
    codes = sorted({r.code for r in results if r.code != "file_rejected"})
    audit_record(
        action=AUDIT_ACTION,
        actor=ctx.actor,
        editor=ctx.editor,
        request=ctx.http_request,
        outcome=AuditEvent.Outcome.FAILURE,
        reason=",".join(codes),
        details={"file": filename[:200], "codes": codes},
    )


def reject_file(ctx: ImportContext, filename: str, code: str, reason: str) -> list[ImportResult]:
    results = [ImportResult(filename, "rejected", reason, code)]
    audit_failure(ctx, filename, results)
    return results
