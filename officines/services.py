"""Writes on officines, technical administrators and pharmacist access."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest

from officines.administrator_changes import administrator_change_request
from officines.habilitations import habilitations_ensure
from officines.models import (
    GEO_IS_ANOTHER_JURIDIQUE,
    JURIDIQUE_IS_ANOTHER_GEO,
    Habilitation,
    Officine,
    OfficineHabilitation,
    TechnicalAdministrator,
)
from portal.audit import audit_record
from portal.events import officine_changed_send
from portal.permissions import Action, require, require_editor


@transaction.atomic
def officine_save(
    *, officine: Officine, actor=None, request: HttpRequest | None = None
) -> Officine:
    """Validate every rule (FINESS, uniqueness per editor) then save; nothing is written on error.

    Choosing the main technical administrator: the first one (or one already attached to the
    officine) is set at once, with a habilitation row « bon de commande à envoyer » if it has
    none. Replacing it by someone new is a change of administrator (form 503): the officine
    keeps its administrator and a pending change is recorded (`officine.pending_change`).

    The caller must be allowed to manage this officine's record (`Action.MANAGE`, decided for
    the officine's own editor); a change of delegation mode is audited on its own.
    """
    creating = officine.pk is None
    require(actor, Action.MANAGE, officine)
    if officine.technical_administrator_id and not Officine.technical_administrator.is_cached(
        officine
    ):
        # Loaded so that full_clean checks mode and card type (a mode changed alone too).
        officine.technical_administrator = TechnicalAdministrator.objects.get(
            pk=officine.technical_administrator_id
        )
    officine.full_clean()
    check_geographic_vs_juridique(officine)
    officine.pending_change = None
    chosen = officine.technical_administrator_id
    before = (
        None
        if creating
        else Officine.objects.filter(pk=officine.pk)
        .values(
            "technical_administrator_id",
            "raison_sociale",
            "department",
            "is_active",
            "delegation_mode",
        )
        .first()
    )
    previous = before["technical_administrator_id"] if before else None
    replacing = bool(previous and chosen and chosen != previous) and not (
        OfficineHabilitation.objects.filter(officine_id=officine.pk, administrator_id=chosen)
        .exclude(state=Habilitation.REVOKED)
        .exists()
    )
    if replacing:
        officine.technical_administrator_id = previous
    officine.save()
    if before and before["delegation_mode"] != officine.delegation_mode:
        audit_record(
            action="officine.delegation_mode",
            actor=actor,
            target=officine,
            request=request,
            details={"from": before["delegation_mode"], "to": officine.delegation_mode},
        )
    audit_record(
        action="officine.create" if creating else "officine.update",
        actor=actor,
        target=officine,
        request=request,
    )
    if before and (
        before["raison_sociale"] != officine.raison_sociale
        or before["department"] != officine.department
    ):
        officine_changed_send(officine_ids=[officine.pk], change="identity")
    if replacing:
        officine.pending_change = administrator_change_request(
            officines=[officine],
            new_administrator=TechnicalAdministrator.objects.get(pk=chosen),
            actor=actor,
            request=request,
        )
    elif chosen:
        habilitations_ensure([(officine.editor_id, officine.pk, chosen)])
    return officine


def check_geographic_vs_juridique(officine: Officine) -> None:
    """A FINESS géographique already recorded as another officine's FINESS juridique (or a
    juridique that is another officine's géographique) is refused with the difference
    explained; one query, within the editor (another editor's data is no business of ours).
    Independent of the FINESS referential (`finess` app), which may not be loaded."""
    numbers = {n for n in (officine.finess, officine.finess_juridique) if n}
    if not numbers:
        return
    others = (
        Officine.objects.of_editor(officine.editor_id)
        .exclude(pk=officine.pk)
        .filter(Q(finess_juridique=officine.finess) | Q(finess__in=numbers - {officine.finess}))
        .only("finess", "finess_juridique", "raison_sociale")[:2]
    )
    errors: dict[str, ValidationError] = {}
    for other in others:
        if officine.finess and other.finess_juridique == officine.finess:
            errors["finess"] = ValidationError(
                GEO_IS_ANOTHER_JURIDIQUE,
                code="finess_is_juridique",
                params={"finess": officine.finess, "officine": str(other)},
            )
        if officine.finess_juridique and other.finess == officine.finess_juridique:
            errors["finess_juridique"] = ValidationError(
                JURIDIQUE_IS_ANOTHER_GEO,
                code="juridique_is_geographic",
                params={"finess": officine.finess_juridique, "officine": str(other)},
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def officine_deactivate(
    *, officine: Officine, actor=None, request: HttpRequest | None = None
) -> None:
    require(actor, Action.MANAGE, officine)
    officine.is_active = False
    officine.save(update_fields=["is_active", "updated_at"])
    audit_record(action="officine.deactivate", actor=actor, target=officine, request=request)
    # Cessation of activity: its live certificates are to be revoked at ANS.
    officine_changed_send(officine_ids=[officine.pk], change="deactivated")


@transaction.atomic
def administrator_save(
    *, administrator: TechnicalAdministrator, actor=None, request: HttpRequest | None = None
) -> TechnicalAdministrator:
    creating = administrator.pk is None
    require_editor(actor, "officines", "manage", administrator.editor_id)
    administrator.full_clean()
    administrator.save()
    audit_record(
        action="administrator.create" if creating else "administrator.update",
        actor=actor,
        target=administrator,
        request=request,
    )
    return administrator
