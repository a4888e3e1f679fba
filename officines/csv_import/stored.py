"""Stored officines imports, as the pages and the worker run them: upload, check, confirm, apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from officines.csv_import.columns import parse_csv
from officines.csv_import.plan import ImportPlan, officines_import_plan
from officines.csv_import.reading import CsvFileError, count_data_rows, decode_csv
from officines.csv_import.report import plan_store
from officines.csv_import.write import ImportRefused, finess_warning_message, officines_import_write
from officines.models import ImportMode, ImportStatus, OfficineImport

# Files up to this many data rows are checked and imported in the request; larger ones
# go to the worker with a progress bar.
SYNC_MAX_ROWS = 500


def officine_import_create(
    *, editor_id: int, actor: Any, data: bytes, filename: str = ""
) -> OfficineImport:
    """Store an uploaded file after the checks that need no row work (size, encoding, header)."""
    if len(data) > settings.MAX_UPLOAD_SIZE:
        raise CsvFileError(
            _("The file is too large (%(size)s; at most %(max)s).")
            % {"size": filesizeformat(len(data)), "max": filesizeformat(settings.MAX_UPLOAD_SIZE)}
        )
    text = decode_csv(data)
    parse_csv(text)  # header and syntax errors are reported at once, before storing anything
    return OfficineImport.objects.create(
        editor_id=editor_id,
        created_by=actor if getattr(actor, "pk", None) else None,
        filename=filename[:255],
        content=text,
        status=ImportStatus.VALIDATING,
        total=count_data_rows(text),
    )


def runs_in_worker(officine_import: OfficineImport) -> bool:
    return officine_import.total > SYNC_MAX_ROWS


def _progress_writer(import_id: int) -> Callable[[int], None]:
    def write(processed: int) -> None:
        OfficineImport.objects.filter(pk=import_id).update(processed=processed)

    return write


def _language_of(officine_import: OfficineImport) -> str:
    user = officine_import.created_by
    return getattr(user, "language", None) or settings.LANGUAGE_CODE


def _run_stored(
    import_id: int,
    status: str,
    then: Callable[[OfficineImport, ImportPlan], OfficineImport | None],
) -> OfficineImport | None:
    """Check the file of an import still in `status` (in its uploader's language, feeding the
    progress bar), then `then(import, plan)`; a file that cannot be read fails the import."""
    officine_import = (
        OfficineImport.objects.select_related("created_by").filter(pk=import_id).first()
    )
    if officine_import is None or officine_import.status != status:
        return officine_import
    with translation.override(_language_of(officine_import)):
        try:
            plan = officines_import_plan(
                editor_id=officine_import.editor_id,
                text=officine_import.content,
                on_progress=_progress_writer(import_id),
            )
        except CsvFileError as exc:
            return _fail(import_id, str(exc))
        return then(officine_import, plan)


def officine_import_validate(*, import_id: int) -> OfficineImport | None:
    """Check a stored file and keep the preview; safe to run twice (only from "validating")."""
    return _run_stored(import_id, ImportStatus.VALIDATING, _keep_preview)


def _keep_preview(officine_import: OfficineImport, plan: ImportPlan) -> OfficineImport:
    plan_store(officine_import, plan)
    officine_import.status = ImportStatus.VALIDATED
    officine_import.save()
    return officine_import


def officine_import_confirm(
    *, officine_import: OfficineImport, valid_only: bool, confirm_finess: bool = False
) -> bool:
    """Move a checked import to "importing"; False if it was not waiting for confirmation."""
    warnings = (officine_import.preview or {}).get("finess_warnings", 0)
    if warnings and not confirm_finess:
        raise ImportRefused(finess_warning_message(warnings))
    if officine_import.invalid_rows and not valid_only:
        raise ImportRefused(
            ngettext(
                "%(count)d row has errors: correct the file, or choose to import the valid "
                "rows only.",
                "%(count)d rows have errors: correct the file, or choose to import the valid "
                "rows only.",
                officine_import.invalid_rows,
            )
            % {"count": officine_import.invalid_rows}
        )
    mode = ImportMode.VALID_ONLY if valid_only else ImportMode.ALL
    claimed = OfficineImport.objects.filter(
        pk=officine_import.pk, status=ImportStatus.VALIDATED
    ).update(
        status=ImportStatus.IMPORTING,
        mode=mode,
        processed=0,
        preview={**(officine_import.preview or {}), "finess_confirmed": confirm_finess},
    )
    if claimed:
        officine_import.status = ImportStatus.IMPORTING
        officine_import.mode = mode
        officine_import.processed = 0
    return bool(claimed)


def officine_import_apply(*, import_id: int) -> OfficineImport | None:
    """Check the stored file again (data may have changed since the preview), then write it.

    Safe to run twice: the import row is locked and only an "importing" import is written.
    """
    return _run_stored(import_id, ImportStatus.IMPORTING, _write_plan)


def _write_plan(officine_import: OfficineImport, plan: ImportPlan) -> OfficineImport | None:
    import_id = officine_import.pk
    try:
        with transaction.atomic():
            locked = OfficineImport.objects.select_for_update().get(pk=import_id)
            if locked.status != ImportStatus.IMPORTING:
                return locked
            result = officines_import_write(
                editor_id=locked.editor_id,
                plan=plan,
                mode=locked.mode,
                actor=officine_import.created_by,
                target=locked,
                confirm_finess=bool((locked.preview or {}).get("finess_confirmed")),
            )
            plan_store(locked, plan)
            locked.created_count = result.created
            locked.updated_count = result.updated
            locked.status = ImportStatus.DONE
            locked.finished_at = timezone.now()
            locked.save()
            return locked
    except ImportRefused as exc:
        failed = _fail(import_id, str(exc))
        if failed is not None:
            plan_store(failed, plan)
            failed.save()
        return failed
    except IntegrityError:
        return _fail(
            import_id,
            _("Officines were changed while importing: nothing was imported, start again."),
        )


def _fail(import_id: int, message: str) -> OfficineImport | None:
    OfficineImport.objects.filter(pk=import_id).update(
        status=ImportStatus.FAILED, failure=message[:255], finished_at=timezone.now()
    )
    return OfficineImport.objects.filter(pk=import_id).first()
