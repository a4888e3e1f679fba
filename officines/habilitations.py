"""Habilitation of technical administrators officine by officine: writes and FINESS lists.

ANS habilitates an administrator for each structure as it processes that structure's
bon de commande: « bon de commande à envoyer » → « demandée » → « habilitée » (→ « révoquée »).
Every administrator of an officine (the main contact included) has one `OfficineHabilitation`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from officines import identifiers
from officines.models import Habilitation, Officine, OfficineHabilitation, TechnicalAdministrator
from portal import permissions
from portal.audit import audit_record
from portal.permissions import can_act_on_officine, is_portal_user

# The date field each state sets.
STATE_DATE_FIELD = {
    Habilitation.REQUESTED: "requested_on",
    Habilitation.HABILITATED: "habilitated_on",
    Habilitation.REVOKED: "revoked_on",
}
MAX_FINESS_LIST = 20_000
_SEPARATORS = re.compile(r"[\s,;]+")


def not_habilitated_warning() -> str:
    """The sentence shown wherever an order is prepared for an officine nobody may order for."""
    return _("Do not order: administrator not habilitated")


# --------------------------------------------------------------------------- FINESS lists


@dataclass
class FinessList:
    """A pasted or uploaded list of FINESS, resolved against the editor's officines."""

    officines: list[Officine] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def parse_finess_list(text: str) -> tuple[list[str], list[str]]:
    """(normalised FINESS in order without duplicates, tokens that are not FINESS-shaped).

    Accepts one per line, or separated by spaces, commas or semicolons; a CSV's first column
    works too (a header such as "finess" is skipped).
    """
    found: dict[str, None] = {}
    invalid: list[str] = []
    for line in text.splitlines():
        # A CSV line (";" or tab): its first cell; otherwise commas separate numbers.
        cells = [re.split(r"[;\t]", line)[0]] if re.search(r"[;\t]", line) else line.split(",")
        for cell in cells:
            cell = cell.strip().strip('"').strip("'")
            if not cell or cell.lower().startswith("finess"):
                continue
            compact = identifiers.normalize_finess(cell)
            tokens = [compact] if len(compact) == 9 else _SEPARATORS.split(cell)
            for token in tokens:
                value = identifiers.normalize_finess(token)
                if not value:
                    continue
                if len(value) == 9 and value.isascii() and value.isalnum():
                    found[value] = None
                else:
                    invalid.append(token[:20])
    return list(found), invalid


def resolve_finess_list(queryset: QuerySet, text: str) -> FinessList:
    """The officines of `queryset` (already scoped) named in `text`, in one query."""
    numbers, invalid = parse_finess_list(text)
    if len(numbers) > MAX_FINESS_LIST:
        raise ValidationError(
            _("At most %(max)d FINESS numbers at once.") % {"max": MAX_FINESS_LIST},
            code="too_many",
        )
    by_finess = {o.finess: o for o in queryset.filter(finess__in=numbers)}
    return FinessList(
        officines=[by_finess[n] for n in numbers if n in by_finess],
        unknown=[n for n in numbers if n not in by_finess],
        invalid=invalid,
    )


# --------------------------------------------------------------------------- writes


def habilitations_ensure(pairs: Iterable[tuple[int, int, int]]) -> int:
    """Give each (editor, officine, administrator) a row « bon de commande à envoyer » if it
    has none (bulk, idempotent): used wherever an administrator is attached to officines."""
    rows = [
        OfficineHabilitation(editor_id=editor_id, officine_id=officine_id, administrator_id=admin)
        for editor_id, officine_id, admin in pairs
    ]
    created = OfficineHabilitation.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return len(created)


def check_may_manage(actor: Any, officines: Iterable[Officine]) -> None:
    """Refuse when the actor may not manage these officines' administrators.

    Habilitation and form 503 are part of the editor's record of the officine: the
    per-object rule `portal.permissions.require(actor, "manage", officine)` decides when the
    kernel has it; until then, `can_act_on_officine` (users) or the key's editor and officine.
    """
    require = getattr(permissions, "require", None)
    for officine in officines:
        if require is not None:
            require(actor, "manage", officine)
            continue
        if is_portal_user(actor):
            allowed = can_act_on_officine(actor, officine)
        else:
            allowed = getattr(actor, "editor_id", None) in (None, officine.editor_id) and (
                getattr(actor, "officine_id", None) in (None, officine.pk)
            )
        if not allowed:
            raise PermissionDenied(
                _("You may not manage the habilitations of %(officine)s.") % {"officine": officine}
            )


@dataclass(frozen=True)
class HabilitationResult:
    created: int
    updated: int
    unchanged: int


@transaction.atomic
def habilitations_set(
    *,
    officines: list[Officine],
    administrator: TechnicalAdministrator,
    state: str,
    on: date | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> HabilitationResult:
    """Record the ANS step `state` (on date `on`, default today) for `administrator` at each
    officine, creating the rows that do not exist. All or nothing."""
    state = Habilitation(state)
    if not officines:
        raise ValidationError(_("Select at least one officine."), code="empty")
    if any(o.editor_id != administrator.editor_id for o in officines):
        raise ValidationError(
            _("The administrator and the officines belong to different editors."), code="tenant"
        )
    if state == Habilitation.HABILITATED and administrator.card_on_order:
        raise ValidationError(
            _(
                "%(name)s has no card number yet (card on order, form 301): record the card "
                "number before marking the administrator habilitated."
            )
            % {"name": administrator.full_name},
            code="card_on_order",
        )
    check_may_manage(actor, officines)
    on = on or timezone.localdate()
    ids = [o.pk for o in officines]
    existing = {
        row.officine_id: row
        for row in OfficineHabilitation.objects.select_for_update().filter(
            administrator=administrator, officine_id__in=ids
        )
    }
    date_field = STATE_DATE_FIELD.get(state)
    creates, updates, unchanged = [], [], 0
    for officine in officines:
        row = existing.get(officine.pk)
        if row is None:
            row = OfficineHabilitation(
                editor_id=officine.editor_id, officine=officine, administrator=administrator
            )
            creates.append(row)
        elif row.state == state and (date_field is None or getattr(row, date_field) == on):
            unchanged += 1
            continue
        else:
            updates.append(row)
        row.state = state
        if date_field:
            setattr(row, date_field, on)
    now = timezone.now()
    for row in updates:
        row.updated_at = now
    OfficineHabilitation.objects.bulk_create(creates, batch_size=2000)
    OfficineHabilitation.objects.bulk_update(
        updates, ["state", "requested_on", "habilitated_on", "revoked_on", "updated_at"], 1000
    )
    if state == Habilitation.REVOKED:
        _reelect_main_contacts([o.pk for o in officines], administrator)
    else:
        # An officine without a main contact gets this administrator.
        Officine.objects.filter(pk__in=ids, technical_administrator__isnull=True).update(
            technical_administrator=administrator, updated_at=now
        )
    audit_record(
        action="habilitation.set",
        actor=actor,
        target=administrator,
        request=request,
        details={
            "state": str(state),
            "date": on.isoformat(),
            "finess": [o.finess for o in officines][:1000],
            "count": len(officines),
            "created": len(creates),
            "updated": len(updates),
        },
    )
    return HabilitationResult(created=len(creates), updated=len(updates), unchanged=unchanged)


def _reelect_main_contacts(officine_ids: list[int], revoked: TechnicalAdministrator) -> None:
    """Where the revoked administrator was the main contact, the next habilitated (else
    requested) administrator of the officine takes over; none left: the officine keeps no
    main contact, and the alerts go to its other recipients."""
    rank = {Habilitation.HABILITATED: 0, Habilitation.REQUESTED: 1, Habilitation.ORDER_TO_SEND: 2}
    orphaned = list(
        Officine.objects.filter(pk__in=officine_ids, technical_administrator=revoked).values_list(
            "pk", flat=True
        )
    )
    if not orphaned:
        return
    best: dict[int, tuple[int, int]] = {}
    for officine_id, admin_id, state in (
        OfficineHabilitation.objects.filter(officine_id__in=orphaned)
        .exclude(state=Habilitation.REVOKED)
        .values_list("officine_id", "administrator_id", "state")
    ):
        candidate = (rank[state], admin_id)
        if officine_id not in best or candidate < best[officine_id]:
            best[officine_id] = candidate
    now = timezone.now()
    for officine_id in orphaned:
        chosen = best.get(officine_id)
        Officine.objects.filter(pk=officine_id).update(
            technical_administrator_id=chosen[1] if chosen else None, updated_at=now
        )


@transaction.atomic
def main_contact_set(
    *,
    officine: Officine,
    administrator: TechnicalAdministrator,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> None:
    """Make one of the officine's administrators (not revoked) its main contact for alerts."""
    check_may_manage(actor, [officine])
    attached = (
        OfficineHabilitation.objects.filter(officine=officine, administrator=administrator)
        .exclude(state=Habilitation.REVOKED)
        .exists()
    )
    if not attached:
        raise ValidationError(
            _("%(name)s is not a technical administrator of this officine (or was revoked).")
            % {"name": administrator.full_name},
            code="not_attached",
        )
    previous = officine.technical_administrator_id
    officine.technical_administrator = administrator
    officine.save(update_fields=["technical_administrator", "updated_at"])
    audit_record(
        action="habilitation.main_contact",
        actor=actor,
        target=officine,
        request=request,
        details={"administrator": administrator.pk, "previous": previous},
    )
