"""Changes of technical administrator (ANS form 503): request, worksheet, processing, cancel.

A change is pending until ANS has processed the form: until then the old administrator of
each officine stays its main contact and keeps its habilitation (and the alerts). Marking it
« traité par l'ANS » habilitates the new administrator for those officines, revokes the old
one there and makes the new one the main contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from officines.habilitations import STATE_DATE_FIELD, check_may_manage
from officines.models import (
    AdministratorChange,
    AdministratorChangeItem,
    ChangeStatus,
    Habilitation,
    Officine,
    OfficineHabilitation,
    TechnicalAdministrator,
)
from portal.audit import audit_record
from portal.permissions import is_portal_user


def _actor_label(actor: Any) -> str:
    label = getattr(actor, "audit_label", None) or getattr(actor, "email", "") or ""
    return str(label)[:200]


def administrator_change_request(
    *,
    officines: Iterable[Officine],
    new_administrator: TechnicalAdministrator,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> AdministratorChange:
    """Record a pending form 503 for these officines; nothing changes at ANS's side yet.

    Officines already administered (main contact) by `new_administrator` are left out; an
    officine already in a pending change is refused (cancel or process that one first).
    """
    officines = [o for o in officines if o.technical_administrator_id != new_administrator.pk]
    if not officines:
        raise ValidationError(
            _("%(name)s is already the technical administrator of the selected officines.")
            % {"name": new_administrator.full_name},
            code="nothing_to_change",
        )
    if any(o.editor_id != new_administrator.editor_id for o in officines):
        raise ValidationError(
            _("The administrator and the officines belong to different editors."), code="tenant"
        )
    if new_administrator.card_on_order:
        raise ValidationError(
            _(
                "Form 503 needs the card number of the new administrator: %(name)s's card is "
                "still on order (form 301). Record the number first."
            )
            % {"name": new_administrator.full_name},
            code="card_on_order",
        )
    check_may_manage(actor, officines)
    busy = list(
        AdministratorChangeItem.objects.filter(
            officine__in=[o.pk for o in officines], pending=True
        ).values_list("officine__finess", flat=True)[:20]
    )
    if busy:
        raise ValidationError(_busy_message(busy), code="pending_change")
    try:
        with transaction.atomic():
            change = AdministratorChange.objects.create(
                editor_id=new_administrator.editor_id,
                new_administrator=new_administrator,
                requested_by=actor if is_portal_user(actor) else None,
                requested_by_label=_actor_label(actor),
            )
            AdministratorChangeItem.objects.bulk_create(
                [
                    AdministratorChangeItem(
                        change=change,
                        officine=o,
                        old_administrator_id=o.technical_administrator_id,
                    )
                    for o in officines
                ],
                batch_size=2000,
            )
            audit_record(
                action="administrator_change.request",
                actor=actor,
                target=change,
                request=request,
                details={
                    "form": "503",
                    "new_administrator": new_administrator.pk,
                    "finess": [o.finess for o in officines][:1000],
                    "count": len(officines),
                },
            )
    except IntegrityError as exc:  # a concurrent request took one of these officines
        raise ValidationError(_busy_message([]), code="pending_change") from exc
    return change


def _busy_message(finess: list[str]) -> str:
    message = _(
        "A change of administrator (form 503) is already pending for some of these officines: "
        "mark it processed or cancel it first."
    )
    if finess:
        message += " " + _("FINESS: %(list)s") % {"list": ", ".join(finess)}
    return message


@transaction.atomic
def administrator_change_process(
    *,
    change: AdministratorChange,
    processed_on: date | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> AdministratorChange:
    """« Traité par l'ANS »: the new administrator becomes habilitated and main contact of
    each officine; the old one's habilitation there is revoked on the same date."""
    change = AdministratorChange.objects.select_for_update().get(pk=change.pk)
    _check_pending(change)
    processed_on = processed_on or timezone.localdate()
    if processed_on > timezone.localdate():
        raise ValidationError(_("The processing date cannot be in the future."), code="future")
    items = list(change.items.select_related("officine"))
    officines = [item.officine for item in items]
    check_may_manage(actor, officines)
    new = change.new_administrator
    if new.card_on_order:
        raise ValidationError(
            _("%(name)s has no card number: record it before marking the change processed.")
            % {"name": new.full_name},
            code="card_on_order",
        )
    ids = [o.pk for o in officines]
    rows = {
        (row.officine_id, row.administrator_id): row
        for row in OfficineHabilitation.objects.select_for_update().filter(officine_id__in=ids)
    }
    creates, updates = [], []
    for item in items:
        row = rows.get((item.officine_id, new.pk))
        if row is None:
            row = OfficineHabilitation(
                editor_id=change.editor_id, officine_id=item.officine_id, administrator=new
            )
            creates.append(row)
        else:
            updates.append(row)
        row.state = Habilitation.HABILITATED
        row.habilitated_on = processed_on
        old = rows.get((item.officine_id, item.old_administrator_id))
        if old is not None and item.old_administrator_id != new.pk:
            old.state = Habilitation.REVOKED
            setattr(old, STATE_DATE_FIELD[Habilitation.REVOKED], processed_on)
            updates.append(old)
    now = timezone.now()
    for row in updates:
        row.updated_at = now
    OfficineHabilitation.objects.bulk_create(creates, batch_size=2000)
    OfficineHabilitation.objects.bulk_update(
        updates, ["state", "habilitated_on", "revoked_on", "updated_at"], batch_size=1000
    )
    Officine.objects.filter(pk__in=ids).update(technical_administrator=new, updated_at=now)
    change.items.update(pending=False)
    change.status = ChangeStatus.PROCESSED
    change.processed_on = processed_on
    change.closed_by_label = _actor_label(actor)
    change.closed_at = now
    change.save(update_fields=["status", "processed_on", "closed_by_label", "closed_at"])
    audit_record(
        action="administrator_change.process",
        actor=actor,
        target=change,
        request=request,
        details={"form": "503", "processed_on": processed_on.isoformat(), "count": len(ids)},
    )
    return change


@transaction.atomic
def administrator_change_cancel(
    *, change: AdministratorChange, actor: Any = None, request: HttpRequest | None = None
) -> AdministratorChange:
    """Withdraw a pending change: nothing changes for the officines."""
    change = AdministratorChange.objects.select_for_update().get(pk=change.pk)
    _check_pending(change)
    check_may_manage(actor, [item.officine for item in change.items.select_related("officine")])
    change.items.update(pending=False)
    change.status = ChangeStatus.CANCELLED
    change.closed_by_label = _actor_label(actor)
    change.closed_at = timezone.now()
    change.save(update_fields=["status", "closed_by_label", "closed_at"])
    audit_record(
        action="administrator_change.cancel",
        actor=actor,
        target=change,
        request=request,
        details={"form": "503"},
    )
    return change


def _check_pending(change: AdministratorChange) -> None:
    if change.status != ChangeStatus.PENDING:
        raise ValidationError(
            _("This change is no longer pending (%(status)s).")
            % {"status": change.get_status_display()},
            code="not_pending",
        )


# --------------------------------------------------------------------------- worksheet


def worksheet_header() -> list[str]:
    return [
        _("Geographic FINESS"),
        _("Legal name (raison sociale)"),
        _("Old technical administrator"),
        _("Old administrator's card"),
        _("New technical administrator"),
        _("New administrator's card"),
        _("New administrator's e-mail"),
    ]


def worksheet_rows(change: AdministratorChange) -> Iterator[list[str]]:
    """The form 503 worksheet: header, then one line per officine (one query); cells are
    made formula-safe by `portal.csv_stream`."""
    new = change.new_administrator
    yield worksheet_header()
    items = (
        change.items.select_related("officine", "old_administrator")
        .order_by("officine__finess")
        .iterator(chunk_size=1000)
    )
    for item in items:
        old = item.old_administrator
        yield [
            item.officine.finess,
            item.officine.raison_sociale,
            old.full_name if old else "",
            old.card_number if old else "",
            new.full_name,
            new.card_number,
            new.email,
        ]


def worksheet_filename(change: AdministratorChange) -> str:
    return f"formulaire-503-{change.pk}.csv"
