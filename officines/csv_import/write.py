"""Writing a checked plan of officines: bulk create and update in one transaction, audit, events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import ngettext

from officines.administrator_changes import administrator_change_request
from officines.csv_import.columns import MODEL_FIELDS
from officines.csv_import.plan import ImportPlan, officines_import_plan
from officines.habilitations import habilitations_ensure
from officines.models import (
    Habilitation,
    ImportMode,
    Officine,
    OfficineHabilitation,
    TechnicalAdministrator,
)
from portal.audit import audit_record
from portal.events import officine_changed_send

BATCH_SIZE = 1000
UPDATE_FIELDS = (*MODEL_FIELDS, "technical_administrator", "updated_at")


class ImportRefused(ValueError):
    """The file has invalid rows and the user did not choose to import only the valid ones."""


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    skipped: int


def officines_import_write(
    *,
    editor_id: int,
    plan: ImportPlan,
    mode: str = ImportMode.ALL,
    actor: Any = None,
    target: Any = None,
    confirm_finess: bool = False,
) -> ImportResult:
    """Create and update the planned officines in one transaction (batches of 1000).

    Raises `ImportRefused` when rows are invalid and `mode` is not "valid_only", or when
    new officines have a FINESS the referential does not confirm and `confirm_finess` is off.
    """
    if plan.invalid_rows and mode != ImportMode.VALID_ONLY:
        raise ImportRefused(
            ngettext(
                "%(count)d row has errors: nothing was imported.",
                "%(count)d rows have errors: nothing was imported.",
                plan.invalid_rows,
            )
            % {"count": plan.invalid_rows}
        )
    if plan.finess_warnings and not confirm_finess:
        raise ImportRefused(finess_warning_message(plan.finess_warnings))
    creates = [row.officine for row in plan.rows if row.action == "create"]
    updates = [row.officine for row in plan.rows if row.action == "update"]
    now = timezone.now()
    for officine in updates:
        officine.updated_at = now
    with transaction.atomic():
        replacements = _hold_replaced_administrators(updates)
        renamed = _identity_changes(updates)
        Officine.objects.bulk_create(creates, batch_size=BATCH_SIZE)
        _update_rows(editor_id, updates)
        _attach_administrators(editor_id, [*creates, *updates], replacements, actor)
        officine_changed_send(officine_ids=renamed, change="identity")
        result = ImportResult(
            created=len(creates),
            updated=len(updates),
            unchanged=plan.unchanged,
            skipped=plan.invalid_rows,
        )
        audit_record(
            action="officine.import",
            actor=actor,
            editor=editor_id,
            target=target,
            details={
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "skipped": result.skipped,
                "mode": str(mode),
            },
        )
    return result


def finess_warning_message(count: int) -> str:
    return ngettext(
        "%(count)d new officine has a FINESS the referential does not confirm (absent, "
        "closed or not a pharmacie d'officine): check it, then confirm to import.",
        "%(count)d new officines have a FINESS the referential does not confirm (absent, "
        "closed or not a pharmacie d'officine): check them, then confirm to import.",
        count,
    ) % {"count": count}


def _identity_changes(updates: list[Officine]) -> list[int]:
    """Officines whose raison sociale or département the file changes (one query): their live
    certificates no longer match them (`portal.events.officine_changed`)."""
    if not updates:
        return []
    before = {
        pk: (name, department)
        for pk, name, department in Officine.objects.filter(
            pk__in=[o.pk for o in updates]
        ).values_list("pk", "raison_sociale", "department")
    }
    return [
        o.pk
        for o in updates
        if before.get(o.pk, (o.raison_sociale, o.department))
        != (
            o.raison_sociale,
            o.department,
        )
    ]


def _hold_replaced_administrators(updates: list[Officine]) -> dict[int, list[Officine]]:
    """Rows that replace an officine's administrator by one not attached to it keep the old
    one for now: the replacement is a form 503, requested after the write (two queries)."""
    chosen = {o.pk: o.technical_administrator_id for o in updates if o.technical_administrator_id}
    if not chosen:
        return {}
    previous = dict(
        Officine.objects.filter(pk__in=list(chosen)).values_list("pk", "technical_administrator_id")
    )
    attached = set(
        OfficineHabilitation.objects.filter(officine_id__in=list(chosen))
        .exclude(state=Habilitation.REVOKED)
        .values_list("officine_id", "administrator_id")
    )
    replacements: dict[int, list[Officine]] = {}
    for officine in updates:
        new, old = chosen.get(officine.pk), previous.get(officine.pk)
        if new and old and new != old and (officine.pk, new) not in attached:
            officine.technical_administrator_id = old
            replacements.setdefault(new, []).append(officine)
    return replacements


def _attach_administrators(
    editor_id: int,
    officines: list[Officine],
    replacements: dict[int, list[Officine]],
    actor: Any,
) -> None:
    """Habilitation rows for the administrators set by the file, and one pending form 503 per
    new administrator replacing another (`officines.administrator_changes`)."""
    habilitations_ensure(
        (editor_id, o.pk, o.technical_administrator_id)
        for o in officines
        if o.technical_administrator_id
    )
    if not replacements:
        return
    administrators = TechnicalAdministrator.objects.of_editor(editor_id).in_bulk(list(replacements))
    for admin_id, group in replacements.items():
        try:
            administrator_change_request(
                officines=group, new_administrator=administrators[admin_id], actor=actor
            )
        except ValidationError as exc:
            raise ImportRefused(" ".join(exc.messages)) from exc


def _update_rows(editor_id: int, officines: list[Officine]) -> None:
    """One parametrised UPDATE per row, sent with executemany in batches.

    Not `QuerySet.bulk_update`: it builds a CASE expression per field, far slower on large
    files (BENCHMARKS.md, bench/bench_officine_import.py).
    """
    if not officines:
        return
    if connection.vendor == "postgresql":
        _update_rows_from_values(editor_id, officines)
        return
    meta = Officine._meta
    fields = [meta.get_field(name) for name in UPDATE_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Table and column names come from the model, values are parameters.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(meta.pk.column)} = %s AND {quote('editor_id')} = %s"
    )
    params = [
        [f.get_db_prep_save(getattr(officine, f.attname), connection) for f in fields]
        + [officine.pk, editor_id]
        for officine in officines
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(params), BATCH_SIZE):
            cursor.executemany(sql, params[start : start + BATCH_SIZE])


def _update_rows_from_values(editor_id: int, officines: list[Officine]) -> None:
    """PostgreSQL: one `UPDATE ... FROM (VALUES ...)` per batch of 1,000 rows.

    Single-row UPDATEs (executemany) get slower row after row on PostgreSQL; one statement
    per batch does not (BENCHMARKS.md).
    """
    meta = Officine._meta
    fields = [meta.get_field(name) for name in UPDATE_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
    # The first row carries the column types (VALUES would otherwise type them as text).
    typed = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ", %s::bigint)"
    plain = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(officines), BATCH_SIZE):
            batch = officines[start : start + BATCH_SIZE]
            values = ", ".join([typed, *[plain] * (len(batch) - 1)])
            params: list[Any] = []
            for officine in batch:
                params += [
                    f.get_db_prep_save(getattr(officine, f.attname), connection) for f in fields
                ]
                params.append(officine.pk)
            # Table and column names come from the model, values are parameters.
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS o SET {assignments} "  # noqa: S608
                f"FROM (VALUES {values}) AS v({columns}, id) "
                f"WHERE o.{quote(meta.pk.column)} = v.id AND o.{quote('editor_id')} = %s",
                [*params, editor_id],
            )


def officines_import_rows(
    *,
    editor_id: int,
    text: str,
    mode: str = ImportMode.ALL,
    actor: Any = None,
    on_progress: Callable[[int], None] | None = None,
    confirm_finess: bool = False,
) -> ImportResult:
    """Check the whole file, then write it; nothing is written if a row is wrong (mode "all")."""
    plan = officines_import_plan(editor_id=editor_id, text=text, on_progress=on_progress)
    return officines_import_write(
        editor_id=editor_id, plan=plan, mode=mode, actor=actor, confirm_finess=confirm_finess
    )
