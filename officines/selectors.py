"""Reads with rules on officines: search, who gets the alerts, who may order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from officines.habilitations import not_habilitated_warning
from officines.models import Habilitation, Officine, OfficineHabilitation

# Looks like a whole FINESS (9 characters, A/B only in 2nd place): an exact, indexed look-up.
_FINESS_SHAPE = re.compile(r"\d[\dAB]\d{7}")


def officine_search(queryset: QuerySet, value: str) -> QuerySet:
    """Officines matching a search box: a whole FINESS exactly, else name, city or FINESS
    prefix (the officine list, the API's `search` and the request wizard)."""
    value = value.strip()
    if not value:
        return queryset
    compact = value.replace(" ", "").upper()
    if _FINESS_SHAPE.fullmatch(compact):
        return queryset.filter(finess=compact)
    return queryset.filter(
        Q(raison_sociale__icontains=value)
        | Q(city__icontains=value)
        | Q(finess__startswith=compact)
    )


@dataclass(frozen=True)
class AlertContact:
    administrator_id: int
    full_name: str
    email: str


def alert_contacts(officine_ids: Iterable[int]) -> dict[int, AlertContact]:
    """The technical administrator who gets each officine's alerts, in one query.

    That is the officine's main contact (`Officine.technical_administrator`) unless their
    habilitation for this officine is revoked. While a change of administrator (form 503) is
    pending, the main contact is still the old administrator: they keep the alerts until ANS
    has processed the change. Officines missing from the result have no such contact.
    """
    ids = list(officine_ids)
    if not ids:
        return {}
    revoked = OfficineHabilitation.objects.filter(
        officine_id=OuterRef("pk"),
        administrator_id=OuterRef("technical_administrator_id"),
        state=Habilitation.REVOKED,
    )
    rows = (
        Officine.objects.filter(pk__in=ids, technical_administrator__isnull=False)
        .exclude(Exists(revoked))
        .order_by()
        .values_list(
            "pk",
            "technical_administrator_id",
            "technical_administrator__full_name",
            "technical_administrator__email",
        )
    )
    return {pk: AlertContact(admin_id, name, email) for pk, admin_id, name, email in rows}


def officine_habilitations(officine: Officine, user) -> list[OfficineHabilitation]:
    """The administrators of one officine with their habilitation, main contact first."""
    rows = list(
        OfficineHabilitation.objects.visible_to(user)
        .filter(officine=officine)
        .select_related("administrator")
        .order_by("administrator__full_name", "pk")
    )
    for row in rows:
        row.is_main_contact = row.administrator_id == officine.technical_administrator_id
    rows.sort(key=lambda r: not r.is_main_contact)
    return rows


def officine_is_habilitated(officine: Officine) -> bool:
    """Has at least one habilitated administrator (uses the annotation when present)."""
    annotated = getattr(officine, "has_habilitated_administrator", None)
    if annotated is not None:
        return bool(annotated)
    return OfficineHabilitation.objects.filter(
        officine_id=officine.pk, state=Habilitation.HABILITATED
    ).exists()


def habilitated_officine_ids():
    """Ids of the officines with a habilitated administrator, as a subquery (`pk__in`): one
    hashed list for PostgreSQL instead of a probe per officine."""
    return OfficineHabilitation.objects.filter(state=Habilitation.HABILITATED).values("officine_id")


def habilitated_administrators():
    """Habilitated rows of the officine at `OuterRef("pk")` (for `Exists` on officines)."""
    return OfficineHabilitation.objects.filter(
        officine_id=OuterRef("pk"), state=Habilitation.HABILITATED
    )


def officine_habilitated_expression(officine_ref: str = "officine_id") -> Exists:
    """SQL `EXISTS`: the officine at `officine_ref` has a habilitated administrator (for
    annotating certificate requests without a query per row)."""
    return Exists(
        OfficineHabilitation.objects.filter(
            officine_id=OuterRef(officine_ref), state=Habilitation.HABILITATED
        )
    )


def request_ordering_warning(request_row) -> str | None:
    """« ne pas commander : administrateur non habilité » for a request whose officine has
    no habilitated administrator (annotation `officine_habilitated`, else one query)."""
    habilitated = getattr(request_row, "officine_habilitated", None)
    if habilitated is None:
        habilitated = OfficineHabilitation.objects.filter(
            officine_id=request_row.officine_id, state=Habilitation.HABILITATED
        ).exists()
    return None if habilitated else str(not_habilitated_warning())


def _no_requests(user: Any, officine_id: int) -> int:
    return 0


# How many certificate requests of an officine are open (a change of delegation mode says
# what happens to them). `certificates` registers it from its AppConfig.ready(): officines
# never imports the apps above it.
_open_requests_counter: Callable[[Any, int], int] = _no_requests


def register_open_requests_counter(counter: Callable[[Any, int], int]) -> None:
    global _open_requests_counter
    _open_requests_counter = counter


def open_requests_count(user: Any, officine_id: int) -> int:
    """The officine's open certificate requests that `user` sees."""
    return _open_requests_counter(user, officine_id)
