"""The import services: one uploaded file, or many (bulk) run in batches looked up together.

The rules (all or nothing per file, officine from the OU, chains, duplicates, renewals,
services) are in the package docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest

from certificates import x509
from certificates.importing.analyse import (
    ANS_ISSUABLE_STATUSES,
    ISSUABLE_STATUSES,
    Checked,
    check_file,
)
from certificates.importing.audit import reject_file
from certificates.importing.context import ImportContext, Lookups, live_certificates
from certificates.importing.outcomes import ImportReport, ImportResult, result_message
from certificates.importing.reading import Loaded, load_file
from certificates.importing.write import bulk_write, is_plain, reserve, write_file
from certificates.models import Certificate, CertificateRequest, KeyMode
from certificates.trust import trust_store
from portal.models import Editor

logger = logging.getLogger(__name__)

# Files looked up together in bulk imports (fingerprints, requests, duplicates).
BATCH_SIZE = 100


def _lookups(ctx: ImportContext, batch: list[Loaded], *, with_requests: bool) -> Lookups:
    infos = [info for loaded in batch for info in loaded.infos]
    if not infos:
        return Lookups({}, {}, {}, {})
    # This editor's only: a fingerprint is unique per editor (another's rows stay unseen).
    rows = (
        Certificate.objects.of_editor(ctx.editor.pk)
        .filter(fingerprint_sha256__in={i.fingerprint_sha256 for i in infos})
        .values_list("fingerprint_sha256", "editor_id", "pk", "serial")
    )
    registered = {fp: (editor_id, pk, serial) for fp, editor_id, pk, serial in rows}
    requests: dict[str, CertificateRequest] = {}
    ans_requests: dict[tuple[int, str, str], CertificateRequest] = {}
    finesses = {i.finess.upper() for i in infos if i.finess}
    if with_requests:
        issuable = CertificateRequest.objects.of_editor(ctx.editor.pk).filter(
            Q(
                status__in=ISSUABLE_STATUSES,
                public_key_sha256__in={i.public_key_sha256 for i in infos},
            )
            | Q(
                key_mode=KeyMode.ANS,
                status__in=ANS_ISSUABLE_STATUSES,
                public_key_sha256="",
                officine__finess__in=finesses,
            )
        )
        for open_request in issuable.order_by("created_at", "id"):  # latest wins
            if open_request.public_key_sha256:
                requests[open_request.public_key_sha256] = open_request
            else:
                key = (open_request.officine_id, open_request.profile, open_request.common_name)
                ans_requests[key] = open_request
    officines = ctx.officines(finesses)
    live = live_certificates(ctx, (o.pk for o in officines.values()))
    return Lookups(registered, requests, officines, live, ans_requests=ans_requests)


def _attach_duplicates(ctx: ImportContext, lookups: Lookups) -> None:
    """Give duplicate results the existing certificate (one query for the batch)."""
    if not lookups.duplicates:
        return
    existing = Certificate.objects.of_editor(ctx.editor.pk).select_related("officine")
    for certificate in existing.filter(pk__in=lookups.duplicates):
        for result in lookups.duplicates[certificate.pk]:
            result.certificate = certificate


def _run_batch(
    ctx: ImportContext,
    batch: list[Loaded | list[ImportResult]],
    request: CertificateRequest | None,
    *,
    bulk: bool,
) -> list[ImportResult]:
    """Check and write the files of a batch, results in file order.

    With `bulk`, files that only insert (the common case of onboarding) wait and are
    inserted together; any other file first flushes them, so order effects are kept.
    """
    loaded = [item for item in batch if isinstance(item, Loaded)]
    try:
        store = trust_store() if loaded else None
    except x509.X509Error:
        logger.exception("Cannot load the trust anchors")
        store = None
    lookups = _lookups(ctx, loaded, with_requests=request is None)
    slots: dict[int, list[ImportResult]] = {}
    waiting: list[tuple[int, Checked]] = []
    for position, item in enumerate(batch):
        if not isinstance(item, Loaded):
            slots[position] = item
            continue
        if store is None:
            slots[position] = reject_file(
                ctx, item.filename, "trust_store", result_message("trust_store")
            )
            continue
        checked = check_file(ctx, item, store, lookups, request)
        if not isinstance(checked, Checked):
            slots[position] = checked
        elif bulk and is_plain(ctx, lookups, checked):
            reserve(lookups, checked)
            waiting.append((position, checked))
        else:
            slots.update(bulk_write(ctx, lookups, waiting))
            waiting = []
            slots[position] = write_file(ctx, lookups, checked)
    slots.update(bulk_write(ctx, lookups, waiting))
    _attach_duplicates(ctx, lookups)
    return [result for position in range(len(batch)) for result in slots[position]]


def _run(
    ctx: ImportContext,
    files: Iterable[tuple[str, bytes]],
    *,
    password: bytes | None,
    request: CertificateRequest | None = None,
    bulk: bool = False,
) -> ImportReport:
    """Files in batches: parsed one by one (their bytes dropped at once), looked up per batch.

    `bulk` commits each batch in one transaction (every file keeps its savepoint, so it
    stays all or nothing) and inserts plain files together: one flush per batch, not per file.
    """
    report = ImportReport()
    batch: list[Loaded | list[ImportResult]] = []

    def flush() -> None:
        with transaction.atomic() if bulk else nullcontext():
            report.results.extend(_run_batch(ctx, batch, request, bulk=bulk))

    for filename, data in files:
        batch.append(load_file(ctx, data, password, filename))
        if len(batch) >= BATCH_SIZE:
            flush()
            batch = []
    if batch:
        flush()
    return report


def certificate_import(
    *,
    editor: Editor,
    data: bytes,
    password: bytes | None = None,
    actor: Any = None,
    http_request: HttpRequest | None = None,
    request: CertificateRequest | None = None,
    create_officines: bool = False,
    allow_untrusted: bool = False,
    filename: str = "",
    services: Sequence[str] | None = None,
    loaded: x509.LoadedBundle | x509.X509Error | None = None,
) -> ImportReport:
    """Import the certificates of one uploaded file for `editor`; see the package docstring.

    `request` (already scoped to the editor by the caller) restricts the upload to that
    request: a certificate with another public key is refused (`key_mismatch`).
    `services` adds services to certificates that match no request. `loaded` is what
    `x509.load_bundle` already made of `data` (or its error): the file is not opened twice.
    """
    if request is not None and request.editor_id != editor.pk:
        raise ValueError("the request belongs to another editor")
    ctx = ImportContext(
        editor=editor,
        actor=actor,
        http_request=http_request,
        create_officines=create_officines,
        allow_untrusted=allow_untrusted,
        services=services,
        preload_officines=False,
    )
    ctx.preloaded = loaded
    return _run(ctx, [(filename, data)], password=password, request=request)


def certificates_import_files(
    *,
    editor: Editor,
    files: Iterable[tuple[str, bytes]],
    password: bytes | None = None,
    actor: Any = None,
    create_officines: bool = False,
    allow_untrusted: bool = False,
    services: Sequence[str] | None = None,
) -> ImportReport:
    """Bulk import (command, benchmark) with the same rules, file by file all or nothing.

    Officines are loaded once; files are looked up, inserted and committed by batches of
    BATCH_SIZE, so a thousand files cost a few hundred queries, not several thousand.
    """
    ctx = ImportContext(
        editor=editor,
        actor=actor,
        http_request=None,
        create_officines=create_officines,
        allow_untrusted=allow_untrusted,
        services=services,
        preload_officines=True,
    )
    return _run(ctx, files, password=password, bulk=True)
