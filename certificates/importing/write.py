"""Write checked certificates: the officine if new, supersede links, the request, the audit.

A file is written in one transaction (a savepoint inside a batch) or not at all; files that
only insert can wait and be inserted together (`bulk_write`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from certificates.coverage import coverage_refresh
from certificates.importing.analyse import Checked, Plan
from certificates.importing.audit import audit_import, reject_file
from certificates.importing.context import ImportContext, Lookups, live_certificates
from certificates.importing.outcomes import ImportResult, result_message
from certificates.models import Certificate, CertificateRequest
from certificates.ordering import request_mark_issued
from officines.services import officine_save


def neighbours(
    ctx: ImportContext,
    lookups: Lookups,
    certificate: Certificate,
    request: CertificateRequest | None,
) -> tuple[Certificate | None, Certificate | None]:
    """(the live certificate this one replaces, a live newer one that already replaces it)."""
    group = lookups.live.get(certificate.officine_id)
    if group is None:  # an officine created by this file, or forgotten after a rollback
        group = live_certificates(ctx, [certificate.officine_id])[certificate.officine_id]
        lookups.live[certificate.officine_id] = group
    key = (certificate.profile, certificate.common_name, certificate.environment)
    same = [c for c in group if (c.profile, c.common_name, c.environment) == key]
    older = [c for c in same if c.not_after < certificate.not_after]
    newer = [c for c in same if c.not_after > certificate.not_after]
    predecessor = max(older, key=lambda c: c.not_after) if older else None
    if request is not None and request.renews_id:
        # What the request renews wins, if it is still live (it may have another CN).
        predecessor = next((c for c in group if c.pk == request.renews_id), predecessor)
    successor = min(newer, key=lambda c: c.not_after) if newer else None
    return predecessor, successor


def write_plan(ctx: ImportContext, lookups: Lookups, plan: Plan, filename: str) -> ImportResult:
    """Write one checked certificate: officine if new, supersede links, request, audit."""
    officine = plan.officine
    created_officine = officine.pk is None
    if created_officine:
        officine_save(officine=officine, actor=ctx.actor, request=ctx.http_request)
    certificate = plan.certificate
    certificate.officine = officine
    predecessor, successor = neighbours(ctx, lookups, certificate, plan.request)
    now = timezone.now()
    certificate.replaces = predecessor
    if successor is not None:
        certificate.superseded_at = now
        plan.warnings.append(
            gettext("A newer certificate (serial %(serial)s) already replaces this one.")
            % {"serial": successor.serial}
        )
    if predecessor is not None:  # before the insert, whose post_save refreshes the coverage
        predecessor.superseded_at = now
        Certificate.objects.filter(pk=predecessor.pk).update(superseded_at=now)
    certificate.save(force_insert=True)
    if successor is not None and successor.replaces_id is None:
        successor.replaces = certificate
        successor.save(update_fields=["replaces"])
    group = lookups.live[officine.pk]  # kept current for the next files of the batch
    if predecessor is not None and predecessor in group:
        group.remove(predecessor)
    if successor is None:
        group.append(certificate)
    if plan.request is not None:
        request_mark_issued(request=plan.request, certificate=certificate)
    audit_import(ctx, certificate, filename, plan.request, predecessor, created_officine)
    reason = (
        result_message("imported_replaces", serial=predecessor.serial)
        if predecessor
        else result_message("imported")
    )
    return ImportResult(filename, "imported", reason, "imported", certificate, plan.warnings)


def _results(checked: Checked, written: dict[int, ImportResult]) -> list[ImportResult]:
    return [o if isinstance(o, ImportResult) else written[o.index] for o in checked.outcomes]


def write_file(ctx: ImportContext, lookups: Lookups, checked: Checked) -> list[ImportResult]:
    """Write a checked file in one transaction (a savepoint inside a batch), or nothing."""
    filename = checked.loaded.filename
    written: dict[int, ImportResult] = {}
    if not checked.plans:
        return _results(checked, written)
    try:
        with transaction.atomic():
            for plan in checked.plans:
                written[plan.index] = write_plan(ctx, lookups, plan, filename)
    except (IntegrityError, ValidationError) as exc:
        for plan in checked.plans:  # in-memory state of these officines no longer matches
            lookups.live.pop(plan.officine.pk, None)
        if isinstance(exc, ValidationError):
            return reject_file(ctx, filename, "conflict", result_message("conflict"))
        # Lost a race with a concurrent import of the same file: report, change nothing.
        return reject_file(
            ctx, filename, "already_registered", result_message("already_registered")
        )
    for officine in checked.new_officines.values():
        ctx.remember_officine(officine)
        lookups.officines[officine.finess] = officine
    for plan in checked.plans:  # later files of the batch see what this one wrote
        lookups.register(plan.certificate)
        if plan.request is not None:
            lookups.requests.pop(plan.request.public_key_sha256, None)
            lookups.ans_requests.pop(
                (plan.request.officine_id, plan.request.profile, plan.request.common_name), None
            )
    return _results(checked, written)


def is_plain(ctx: ImportContext, lookups: Lookups, checked: Checked) -> bool:
    """Nothing but inserts: known officine, no request, nothing to supersede either way."""
    groups = {
        (p.officine.pk, p.info.profile, p.certificate.common_name, p.certificate.environment)
        for p in checked.plans
    }
    if len(groups) < len(checked.plans):  # one file renewing within itself
        return False
    for plan in checked.plans:
        if plan.request is not None or plan.officine.pk is None:
            return False
        plan.certificate.officine = plan.officine
        if neighbours(ctx, lookups, plan.certificate, None) != (None, None):
            return False
    return True


def reserve(lookups: Lookups, checked: Checked) -> None:
    """Make a file waiting for the bulk insert visible to the next files of the batch."""
    for plan in checked.plans:
        lookups.pending[plan.certificate.fingerprint_sha256] = plan.certificate
        lookups.live[plan.officine.pk].append(plan.certificate)


def bulk_write(
    ctx: ImportContext, lookups: Lookups, waiting: list[tuple[int, Checked]]
) -> dict[int, list[ImportResult]]:
    """Insert plain files together; on any error, write them one by one instead."""
    certificates = [plan.certificate for _, checked in waiting for plan in checked.plans]
    if not certificates:  # duplicates only
        return {index: _results(checked, {}) for index, checked in waiting}
    for certificate in certificates:  # no longer waiting: registered below, or written again
        lookups.pending.pop(certificate.fingerprint_sha256, None)
    try:
        with transaction.atomic():
            Certificate.objects.bulk_create(certificates)
            coverage_refresh({certificate.officine_id for certificate in certificates})
            for _, checked in waiting:
                for plan in checked.plans:
                    audit_import(ctx, plan.certificate, checked.loaded.filename)
    except IntegrityError:
        for certificate in certificates:
            lookups.live.pop(certificate.officine_id, None)
            certificate.pk = None
            certificate._state.adding = True
        return {index: write_file(ctx, lookups, checked) for index, checked in waiting}
    results: dict[int, list[ImportResult]] = {}
    for index, checked in waiting:
        written = {}
        for plan in checked.plans:
            lookups.register(plan.certificate)
            written[plan.index] = ImportResult(
                checked.loaded.filename,
                "imported",
                result_message("imported"),
                "imported",
                plan.certificate,
                plan.warnings,
            )
        results[index] = _results(checked, written)
    return results
