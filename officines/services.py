"""Writes on officines, technical administrators and pharmacist access."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.http import HttpRequest

from officines.models import Officine, TechnicalAdministrator
from portal.audit import audit_record


@transaction.atomic
def officine_save(
    *, officine: Officine, actor=None, request: HttpRequest | None = None
) -> Officine:
    """Validate every rule (FINESS, uniqueness per editor) then save; nothing is written on error."""
    creating = officine.pk is None
    officine.full_clean()
    officine.save()
    audit_record(
        action="officine.create" if creating else "officine.update",
        actor=actor,
        target=officine,
        request=request,
    )
    return officine


@transaction.atomic
def officine_deactivate(
    *, officine: Officine, actor=None, request: HttpRequest | None = None
) -> None:
    officine.is_active = False
    officine.save(update_fields=["is_active", "updated_at"])
    audit_record(action="officine.deactivate", actor=actor, target=officine, request=request)


@transaction.atomic
def administrator_save(
    *, administrator: TechnicalAdministrator, actor=None, request: HttpRequest | None = None
) -> TechnicalAdministrator:
    creating = administrator.pk is None
    administrator.full_clean()
    administrator.save()
    audit_record(
        action="administrator.create" if creating else "administrator.update",
        actor=actor,
        target=administrator,
        request=request,
    )
    return administrator


@transaction.atomic
def officines_assign_administrator(
    *,
    officines: Iterable[Officine],
    administrator: TechnicalAdministrator,
    actor=None,
    request: HttpRequest | None = None,
) -> int:
    """Change the technical administrator of many officines (the ANS "formulaire 503" step)."""
    ids = [o.pk for o in officines if o.editor_id == administrator.editor_id]
    count = (
        Officine.objects.of_editor(administrator.editor_id)
        .filter(pk__in=ids)
        .update(technical_administrator=administrator)
    )
    audit_record(
        action="administrator.assign",
        actor=actor,
        target=administrator,
        request=request,
        details={"officines": ids, "form": "503"},
    )
    return count
