"""After each FINESS refresh: compare every editor's active officines with the referential.

Officines that are closed or absent in FINESS, or whose raison sociale or address differ,
get an `OfficineFinessCheck` row (the « à vérifier (FINESS) » filter, the dashboard); the
others have none. Other apps read the differences through `finess_differences` (e.g. to flag
certificates whose subject no longer matches); they never read the table directly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from finess import compare, selectors
from finess.models import Refresh
from finess.services import refresh_mark_compared
from officines.models import Officine, OfficineFinessCheck

logger = logging.getLogger(__name__)

SNAPSHOT_FIELDS = ("id", "editor_id", "finess", "raison_sociale", "address", "postal_code", "city")
WRITE_BATCH = 1000
COMPARED_FIELDS = (
    "finess",
    "raison_sociale",
    "raison_sociale_longue",
    "address",
    "postal_code",
    "category",
    "category_label",
    "is_open",
    "closed_on",
)


def finess_compare_all(*, refresh: Refresh | None = None) -> int:
    """Rewrite the FINESS checks of every editor; returns how many officines are to verify.

    Nothing happens while no full extract was ever loaded (absence would mean nothing).
    About 2 + n/1000 queries per editor with n active officines.
    """
    state = selectors.referential_state()
    if not state.loaded:
        return 0
    refresh = refresh or state.last_refresh
    editors = (
        Officine.objects.filter(is_active=True)
        .order_by()
        .values_list("editor_id", flat=True)
        .distinct()
    )
    total = 0
    for editor_id in list(editors):
        total += finess_compare_editor(editor_id=editor_id, data_date=state.data_date)
    # Editors whose officines are all inactive keep no stale row.
    OfficineFinessCheck.objects.exclude(officine__is_active=True).delete()
    refresh_mark_compared(refresh=refresh, to_verify=total)
    return total


def finess_compare_editor(*, editor_id: int, data_date: Any = None) -> int:
    """Compare one editor's active officines; only the rows that changed are written."""
    rows = list(Officine.objects.of_editor(editor_id).active().values_list(*SNAPSHOT_FIELDS))
    found = selectors.etablissements((row[2] for row in rows), fields=COMPARED_FIELDS)
    now = timezone.now()
    wanted: dict[int, tuple[str, list[dict[str, str]]]] = {}
    for pk, _editor, finess, name, address, postal_code, city in rows:
        snapshot = compare.Snapshot(finess, name, address, postal_code, city)
        status, differences = compare.compare(snapshot, found.get(finess))
        if status != compare.OK:
            wanted[pk] = (status, [d.as_dict() for d in differences])
    existing = {
        pk: (status, differences)
        for pk, status, differences in OfficineFinessCheck.objects.of_editor(editor_id).values_list(
            "officine_id", "status", "differences"
        )
    }
    stale = [pk for pk, value in existing.items() if wanted.get(pk) != value]
    fresh = [
        OfficineFinessCheck(
            officine_id=pk,
            editor_id=editor_id,
            status=status,
            differences=differences,
            data_date=data_date,
            checked_at=now,
        )
        for pk, (status, differences) in wanted.items()
        if existing.get(pk) != (status, differences)
    ]
    with transaction.atomic():
        for start in range(0, len(stale), WRITE_BATCH):
            OfficineFinessCheck.objects.of_editor(editor_id).filter(
                officine_id__in=stale[start : start + WRITE_BATCH]
            ).delete()
        _insert(fresh)
        # Rows kept as they were: the date of the data they were checked against moves on.
        OfficineFinessCheck.objects.of_editor(editor_id).exclude(data_date=data_date).update(
            data_date=data_date
        )
    return len(wanted)


def _insert(checks: list[OfficineFinessCheck]) -> None:
    """COPY on PostgreSQL: no parameter quoting of each JSON row (BENCHMARKS.md)."""
    if not checks:
        return
    if connection.vendor != "postgresql":
        OfficineFinessCheck.objects.bulk_create(checks, batch_size=WRITE_BATCH)
        return
    quote = connection.ops.quote_name
    columns = ("officine_id", "editor_id", "status", "differences", "data_date", "checked_at")
    table = quote(OfficineFinessCheck._meta.db_table)
    names = ", ".join(quote(c) for c in columns)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for c in checks:
            copy.write_row(
                (
                    c.officine_id,
                    c.editor_id,
                    c.status,
                    json.dumps(c.differences),
                    c.data_date,
                    c.checked_at,
                )
            )


def finess_check_officine(officine: Officine) -> None:
    """Re-check one officine after it was created or edited (its row appears or goes)."""
    state = selectors.referential_state()
    if not state.loaded or not officine.pk:
        return
    snapshot = compare.Snapshot(
        officine.finess,
        officine.raison_sociale,
        officine.address,
        officine.postal_code,
        officine.city,
    )
    status, differences = compare.compare(snapshot, selectors.etablissement(officine.finess))
    if status == compare.OK or not officine.is_active:
        OfficineFinessCheck.objects.filter(officine_id=officine.pk).delete()
        return
    OfficineFinessCheck.objects.update_or_create(
        officine_id=officine.pk,
        defaults={
            "editor_id": officine.editor_id,
            "status": status,
            "differences": [d.as_dict() for d in differences],
            "data_date": state.data_date,
            "checked_at": timezone.now(),
        },
    )


# --------------------------------------------------------------------------- selectors


def officines_to_verify(queryset: QuerySet, status: str | None = None) -> QuerySet:
    """The officines of `queryset` « à vérifier (FINESS) » (optionally one status)."""
    if status:
        return queryset.filter(finess_check__status=status)
    return queryset.filter(finess_check__isnull=False)


def finess_differences(officine_ids: Iterable[int], *, user: Any = None) -> dict[int, dict]:
    """{officine id: {"status", "differences", "data_date"}} for those to verify (one query).

    The hook for other apps (certificate « à révoquer / à réémettre » flags): a closed or
    absent établissement, or a changed raison sociale, means the certificate subject is stale.
    """
    rows = OfficineFinessCheck.objects.filter(officine_id__in=list(officine_ids))
    if user is not None:
        rows = rows.visible_to(user)
    return {
        row.officine_id: {
            "status": row.status,
            "differences": row.differences,
            "data_date": row.data_date,
        }
        for row in rows
    }


def _on_refreshed(sender, refresh: Refresh, **kwargs) -> None:
    """Receiver of `finess.signals.referential_refreshed` (connected in OfficinesConfig)."""
    try:
        finess_compare_all(refresh=refresh)
    except Exception:  # the referential is loaded; a failed comparison is retried next time
        logger.exception("FINESS comparison after refresh %s failed", refresh.pk)


def to_verify_overview(user: Any, *, limit: int = 10) -> dict[str, Any]:
    """Dashboard: how many active officines are « à vérifier (FINESS) », and the first ones
    (two queries)."""
    rows = OfficineFinessCheck.objects.visible_to(user).filter(officine__is_active=True)
    count = rows.count()
    # In index order (status, then officine), so the first rows are read without sorting
    # every officine to verify; the list page sorts them by name.
    first = list(rows.select_related("officine").order_by("status", "officine_id")[:limit])
    return {"count": count, "rows": first, "data_date": first[0].data_date if first else None}
