"""Reads of the FINESS referential: look-ups by number, its state and date (for pages, ops)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from finess.formats import PHARMACIE_OFFICINE
from finess.models import Etablissement, Refresh, RefreshKind, RefreshStatus

LOOKUP_BATCH = 1000
CHILDREN_SHOWN = 20


@dataclass(frozen=True)
class ReferentialState:
    loaded: bool  # a full extract was loaded once: absence from it means something
    data_date: date | None
    last_refresh: Refresh | None


def last_successful_refresh() -> Refresh | None:
    """The latest refresh that loaded a file (operations and metrics read this)."""
    return (
        Refresh.objects.filter(status=RefreshStatus.DONE, finished_at__isnull=False)
        .order_by("-finished_at", "-id")
        .first()
    )


def referential_state() -> ReferentialState:
    """Two small indexed queries: is there a referential, and what date is its data."""
    last = last_successful_refresh()
    if last is None:
        return ReferentialState(loaded=False, data_date=None, last_refresh=None)
    loaded = (
        last.kind == RefreshKind.FULL
        or Refresh.objects.filter(status=RefreshStatus.DONE, kind=RefreshKind.FULL).exists()
    )
    return ReferentialState(loaded=loaded, data_date=last.data_date, last_refresh=last)


def etablissement(finess: str) -> Etablissement | None:
    return Etablissement.objects.filter(pk=finess).first()


def etablissements(
    numbers: Iterable[str], *, fields: Iterable[str] = ()
) -> dict[str, Etablissement]:
    """The établissements of these numbers, one query per 1,000; with `fields`, light
    named tuples of those fields (one must be "finess") instead of model instances."""
    numbers = list(dict.fromkeys(numbers))
    found: dict[str, Etablissement] = {}
    queryset: Any = (
        Etablissement.objects.values_list(*fields, named=True)
        if fields
        else Etablissement.objects.all()
    )
    for start in range(0, len(numbers), LOOKUP_BATCH):
        for row in queryset.filter(pk__in=numbers[start : start + LOOKUP_BATCH]):
            found[row.finess] = row
    return found


def geographiques_of(juridique: str, *, limit: int = CHILDREN_SHOWN) -> list[Etablissement]:
    """The établissements a FINESS juridique runs (open ones and officines first)."""
    rows = Etablissement.objects.filter(finess_juridique=juridique).order_by("-is_open", "finess")[
        : limit * 5
    ]
    ordered = sorted(rows, key=lambda e: (not e.is_open, e.category != PHARMACIE_OFFICINE))
    return ordered[:limit]


def is_officine(etab: Etablissement) -> bool:
    return etab.category == PHARMACIE_OFFICINE


def juridiques(numbers: Iterable[str], *, limit: int = CHILDREN_SHOWN) -> dict[str, list[str]]:
    """{number: its géographique numbers} for the numbers that are a FINESS juridique."""
    numbers = list(dict.fromkeys(numbers))
    found: dict[str, list[str]] = {}
    for start in range(0, len(numbers), LOOKUP_BATCH):
        rows = (
            Etablissement.objects.filter(finess_juridique__in=numbers[start : start + LOOKUP_BATCH])
            .order_by("finess_juridique", "-is_open", "finess")
            .values_list("finess_juridique", "finess")
        )
        for juridique, finess in rows:
            children = found.setdefault(juridique, [])
            if len(children) < limit:
                children.append(finess)
    return found
