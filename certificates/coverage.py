"""Which services each officine can reach with its live certificates.

A service is covered by one or more *requirements* (DMP needs a signing AND an
authentication certificate). Each requirement takes its best candidate (latest
expiry) among live certificates; the service state is the worst requirement state.

Those best expiries are stored per officine (`officines.OfficineCoverage`, one column
per requirement), refreshed in the transaction that changes the certificates
(`coverage_refresh`). States depend on the date, so they are computed when read, in
SQL (`coverage_states`, `officines_with_coverage_state`): matrices, dashboard counts and
list filters that paginate in the database read ~10,000 narrow rows for the largest
editor instead of aggregating its ~40,000 live certificates (BENCHMARKS.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import and_, or_
from typing import Any

from django.db import connections, models, transaction
from django.db.models import Case, Max, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certificates.coverage_store import OfficineCoverage
from certificates.models import (
    EXPIRING_DAYS,
    Certificate,
    Profile,
    Service,
)
from officines.identifiers import INSI_COMMON_NAMES
from officines.models import Officine

REFRESH_CHUNK = 1000
logger = logging.getLogger(__name__)


class CoverageState(models.TextChoices):
    COVERED = "covered", _("Covered")
    EXPIRING = "expiring", _("Expiring")
    EXPIRED = "expired", _("Expired")
    MISSING = "missing", _("Missing")


@dataclass(frozen=True)
class Requirement:
    """One certificate a service needs: profile(s), the service tag, optionally fixed CNs;
    `field` is the `OfficineCoverage` column that stores its best (latest) expiry."""

    profiles: tuple[str, ...]
    service: str
    field: str
    common_names: tuple[str, ...] | None = None

    def q(self) -> Q:
        condition = Q(profile__in=self.profiles, services__contains=f",{self.service},")
        if self.common_names is not None:
            condition &= Q(common_name__in=self.common_names)
        return condition


# Which certificates each service needs.
RULES: Mapping[str, tuple[Requirement, ...]] = {
    Service.DMP: (
        Requirement((Profile.ORG_SIGN,), Service.DMP, "dmp_sign_until"),
        Requirement((Profile.ORG_AUTH_CLI,), Service.DMP, "dmp_auth_until"),
    ),
    Service.INSI: (
        Requirement((Profile.ORG_AUTH_CLI,), Service.INSI, "insi_until", tuple(INSI_COMMON_NAMES)),
    ),
    Service.PSC: (Requirement((Profile.ORG_AUTH_CLI,), Service.PSC, "psc_until"),),
    # SERV SSL counts for MSSanté operators.
    Service.MSSANTE: (
        Requirement((Profile.ORG_AUTH_CLI, Profile.SERV_SSL), Service.MSSANTE, "mssante_until"),
    ),
    # « Les certificats organisations utilisés peuvent aussi permettre d'accéder à d'autres
    # services (ROR, ROC…) »: followed for the editors whose LGO uses them.
    Service.ROR: (Requirement((Profile.ORG_AUTH_CLI,), Service.ROR, "ror_until"),),
    Service.ROC: (Requirement((Profile.ORG_AUTH_CLI,), Service.ROC, "roc_until"),),
}
DEFAULT_SERVICES = ("DMP", "INSI", "PSC", "MSSANTE")
REQUIREMENTS: tuple[Requirement, ...] = tuple(r for rules in RULES.values() for r in rules)
# Certificate fields whose change can change an officine's coverage.
COVERAGE_INPUTS = frozenset(
    {
        "officine",
        "not_after",
        "usable_until",
        "revoked_at",
        "superseded_at",
        "profile",
        "services",
        "common_name",
    }
)


def followed_services(chosen: str | Iterable[str] | None = None) -> list[str]:
    """The services an editor follows (`Editor.coverage_services`, e.g. "DMP,INSI,ROR"), in
    RULES order; empty or unknown: the four SEGUR services."""
    if isinstance(chosen, str):
        chosen = chosen.split(",")
    wanted = {c.strip().upper() for c in chosen or () if c and c.strip()}
    services = [str(s) for s in RULES if str(s) in wanted]
    return services or list(DEFAULT_SERVICES)


def _all_missing() -> dict[str, str]:
    return {str(service): str(CoverageState.MISSING) for service in RULES}


# --------------------------------------------------------------------------- stored expiries


def coverage_rows(certificates: QuerySet) -> list[OfficineCoverage]:
    """The `OfficineCoverage` rows of the officines of `certificates`, from their live ones
    (one grouped query)."""
    best = {r.field: Max("usable_until", filter=r.q()) for r in REQUIREMENTS}
    rows = (
        certificates.filter(revoked_at__isnull=True, superseded_at__isnull=True)
        .order_by()
        .values("officine_id", "editor_id")
        .annotate(**best)
    )
    return [OfficineCoverage(**row) for row in rows]


def coverage_refresh(officine_ids: Iterable[int]) -> None:
    """Recompute the stored coverage of these officines from their certificates, in the
    caller's transaction (`post_save` of a certificate does it; bulk writes call it).

    The officine rows are locked first, in id order: two transactions changing the same
    officine's certificates take turns, and the second aggregates after the first
    committed, so neither stores a stale result.
    """
    ids = sorted({int(pk) for pk in officine_ids})
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start : start + REFRESH_CHUNK]
        with transaction.atomic(savepoint=False):
            locked = Officine.objects.select_for_update().filter(pk__in=chunk).order_by("pk")
            list(locked.values_list("pk", flat=True))
            rows = coverage_rows(Certificate.objects.filter(officine_id__in=chunk))
            bare = set(chunk) - {row.officine_id for row in rows}
            if bare:  # no live certificate left
                OfficineCoverage.objects.filter(officine_id__in=bare).delete()
            OfficineCoverage.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["officine"],
                update_fields=[r.field for r in REQUIREMENTS],
            )


def coverage_rebuild(editor_id: int | None = None) -> int:
    """Refresh every officine (of one editor): the nightly repair and after raw bulk loads.
    Returns the number of officines refreshed."""
    officines = (
        Officine.objects.all() if editor_id is None else Officine.objects.of_editor(editor_id)
    )
    ids = list(officines.order_by("pk").values_list("pk", flat=True))
    coverage_refresh(ids)
    return len(ids)


def coverage_drift(officine_ids: Iterable[int] | None = None) -> list[int]:
    """Officines whose stored coverage differs from their certificates (empty when sound)."""
    stored_rows = OfficineCoverage.objects.all()
    certificates = Certificate.objects.all()
    if officine_ids is not None:
        ids = list(officine_ids)
        stored_rows = stored_rows.filter(officine_id__in=ids)
        certificates = certificates.filter(officine_id__in=ids)
    fields = ["officine_id", "editor_id", *(r.field for r in REQUIREMENTS)]
    stored = {row[0]: row for row in stored_rows.values_list(*fields)}
    computed = {
        row.officine_id: tuple(getattr(row, f) for f in fields)
        for row in coverage_rows(certificates)
    }
    return sorted(
        pk for pk in stored.keys() | computed.keys() if stored.get(pk) != computed.get(pk)
    )


def coverage_repair() -> list[int]:
    """Nightly (beat): refresh the officines whose stored coverage drifted from their
    certificates — a bulk write that forgot `coverage_refresh`, a row edited by hand.
    Returns their ids, logged as a warning: drift is a bug to find, not a routine."""
    drifted = coverage_drift()
    if drifted:
        coverage_refresh(drifted)
        logger.warning("Stored coverage repaired for %d officines: %s", len(drifted), drifted[:50])
    return drifted


# --------------------------------------------------------------------------- states


def _state_conditions(
    fields: list[str], now: datetime, soon: datetime, prefix: str = ""
) -> dict[str, Q]:
    """Each state of a service as a condition on its requirements' best expiries: the worst
    requirement wins. The four conditions exclude each other and cover every case (a null
    expiry, or no stored row at all through a LEFT JOIN, is "missing")."""

    def each(lookup: str, value: Any, combine: Any) -> Q:
        return reduce(combine, (Q(**{f"{prefix}{name}__{lookup}": value}) for name in fields))

    return {
        CoverageState.MISSING: each("isnull", True, or_),
        CoverageState.EXPIRED: each("isnull", False, and_) & each("lte", now, or_),
        CoverageState.EXPIRING: each("gt", now, and_) & each("lte", soon, or_),
        CoverageState.COVERED: each("gt", soon, and_),
    }


def _fields(service: str) -> list[str]:
    return [requirement.field for requirement in RULES[service]]


def _state_case(service: str, now: datetime, soon: datetime) -> Case:
    conditions = _state_conditions(_fields(service), now, soon)
    return Case(
        *(When(conditions[state], then=Value(str(state))) for state in CoverageState),
        output_field=models.CharField(),
    )


def state_field(service: str) -> str:
    """Name of the per-service column of `coverage_states`."""
    return f"state_{service.lower()}"


def coverage_states(
    rows: QuerySet, *, now: datetime | None = None, services: Iterable[str] | None = None
) -> QuerySet:
    """`officine_id` and one `state_<service>` per RULES service (or per `services`) from
    stored coverage rows (an `OfficineCoverage` queryset, already scoped by the caller).
    Officines without a row have no live certificate: they miss every service."""
    now = now or timezone.now()
    soon = now + timedelta(days=EXPIRING_DAYS)
    chosen = list(RULES) if services is None else list(services)
    states = {state_field(service): _state_case(service, now, soon) for service in chosen}
    return rows.order_by().values("officine_id").annotate(**states)


def _matrices(per_officine: QuerySet) -> dict[int, dict[str, str]]:
    """{officine_id: {service: state}} from the rows of `coverage_states`."""
    fields = [state_field(service) for service in RULES]
    return {
        officine_id: {str(service): state for service, state in zip(RULES, states, strict=True)}
        for officine_id, *states in per_officine.values_list("officine_id", *fields)
    }


def coverage_for_officines(
    officine_ids: Iterable[int] | QuerySet, *, now: datetime | None = None
) -> dict[int, dict[str, str]]:
    """{officine_id: {service: state}} in one query; a queryset of officines becomes a subquery.

    Callers pass ids (or an officine queryset) already scoped with `visible_to`.
    """
    if isinstance(officine_ids, QuerySet):
        ids_filter: Iterable[int] | QuerySet = officine_ids.order_by().values("pk")
    else:
        ids_filter = list(officine_ids)
        if not ids_filter:
            return {}
    rows = OfficineCoverage.objects.filter(officine_id__in=ids_filter)
    matrices = _matrices(coverage_states(rows, now=now))
    if isinstance(officine_ids, QuerySet):
        ids_filter = officine_ids.values_list("pk", flat=True)
    return {pk: matrices.get(pk) or _all_missing() for pk in ids_filter}


def coverage_of_row(stored: OfficineCoverage | None, now: datetime | None = None) -> dict[str, str]:
    """{service: state} of one stored row (None: no live certificate), in Python.

    The same rule as `_state_conditions` for a single officine, without compiling SQL (most
    of the time of `GET /api/v1/officines/{finess}/` otherwise: BENCHMARKS.md, bench/api.py);
    tests/certificates/test_coverage.py holds both to the same states at every boundary.
    """
    now = now or timezone.now()
    soon = now + timedelta(days=EXPIRING_DAYS)
    matrix = {}
    for service in RULES:
        expiries = [getattr(stored, field, None) for field in _fields(service)]
        if any(expiry is None for expiry in expiries):
            state = CoverageState.MISSING
        elif any(expiry <= now for expiry in expiries):
            state = CoverageState.EXPIRED
        elif any(expiry <= soon for expiry in expiries):
            state = CoverageState.EXPIRING
        else:
            state = CoverageState.COVERED
        matrix[str(service)] = str(state)
    return matrix


def coverage_for_officine(officine: Officine, now: datetime | None = None) -> dict[str, str]:
    return coverage_of_row(OfficineCoverage.objects.filter(officine=officine).first(), now=now)


def officines_with_coverage_state(
    queryset: QuerySet,
    *,
    service: str | None,
    state: str,
    now: datetime | None = None,
    services: Iterable[str] | None = None,
) -> QuerySet:
    """Filter an officine queryset on one service's coverage state (service=None: the state of
    at least one service): a condition on the stored expiries, so that it paginates in the
    database.

    A semi-join on the matching coverage rows of the same editors (a hash of a few thousand
    narrow rows); a plain join made PostgreSQL probe the coverage once per officine.
    """
    if service is not None:
        services = [service]
    else:
        services = list(DEFAULT_SERVICES) if services is None else list(services)
    unknown = [s for s in services if s not in RULES]
    if unknown:
        raise ValueError(f"no coverage rule for service {unknown[0]!r}")
    state = CoverageState(state)
    now = now or timezone.now()
    soon = now + timedelta(days=EXPIRING_DAYS)
    in_state = reduce(or_, (_state_conditions(_fields(s), now, soon)[state] for s in services))
    # Redundant (a row belongs to its officine's editor), but it lets PostgreSQL read only
    # these editors' rows by the editor index.
    rows = OfficineCoverage.objects.filter(editor_id__in=queryset.order_by().values("editor_id"))
    if state == CoverageState.MISSING:
        # Officines without a row miss everything: keep all but those that miss nothing.
        return queryset.exclude(pk__in=rows.exclude(in_state).values("officine_id"))
    return queryset.filter(pk__in=rows.filter(in_state).values("officine_id"))


def coverage_summary(editor_id: int, *, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Dashboard counts {service: {state: officines}} over active officines, in two queries."""
    officine_count = Officine.objects.of_editor(editor_id).active().count()
    rows = OfficineCoverage.objects.of_editor(editor_id).filter(officine__is_active=True)
    matrices = _matrices(coverage_states(rows, now=now))
    summary = {str(s): {str(state): 0 for state in CoverageState} for s in RULES}
    for matrix in matrices.values():
        for service, state in matrix.items():
            summary[service][state] += 1
    # Officines without any live certificate miss every service.
    for service in summary:
        summary[service][CoverageState.MISSING] += officine_count - len(matrices)
    return summary


@dataclass(frozen=True)
class CoverageTally:
    """Officines counted per combination of service states, and the worst ones."""

    groups: list[tuple[dict[str, str], int]]  # ({service: state}, officines)
    worst: list[tuple[int, int, dict[str, str]]]  # (services in a gap, officine id, states)


def coverage_tally(
    per_officine: QuerySet,
    *,
    gap_states: Iterable[str],
    first: int,
    services: Iterable[str] | None = None,
) -> CoverageTally:
    """From `coverage_states` (every service): the number of officines per
    combination of states, and the `first` officines with the most services in
    `gap_states` (then by id), in one query whatever the number of officines.

    A hash aggregate for the counts and a top-N on an integer for the worst: sorting
    10,000 rows on their four state texts cost more than folding them in Python.
    """
    chosen = list(RULES) if services is None else list(services)
    fields = [state_field(service) for service in chosen]
    inner = per_officine.values_list("officine_id", *fields)
    sql, params = inner.query.sql_with_params()
    connection = connections[inner.db]
    columns = ", ".join(connection.ops.quote_name(f) for f in fields)
    gap_list = list(gap_states)
    marks = ", ".join(["%s"] * len(gap_list))
    gaps = " + ".join(
        f"CASE WHEN {connection.ops.quote_name(f)} IN ({marks}) THEN 1 ELSE 0 END" for f in fields
    )
    query = (
        f"WITH per_officine AS ({sql}) "  # noqa: S608 (ORM-built SQL, bound params)
        f"SELECT 0, {columns}, COUNT(*), 0 FROM per_officine GROUP BY {columns} "
        f"UNION ALL SELECT * FROM (SELECT 1, {columns}, {gaps} AS gaps, officine_id "
        f"FROM per_officine WHERE {gaps} > 0 ORDER BY gaps DESC, officine_id LIMIT %s) worst"
    )
    groups: list[tuple[dict[str, str], int]] = []
    worst: list[tuple[int, int, dict[str, str]]] = []
    with connection.cursor() as cursor:
        cursor.execute(query, [*params, *gap_list * len(fields) * 2, first])
        for kind, *states, number, officine_id in cursor.fetchall():
            by_service = dict(zip(chosen, states, strict=True))
            if kind == 0:
                groups.append((by_service, number))
            else:
                worst.append((number, officine_id, by_service))
    worst.sort(key=lambda item: (-item[0], item[1]))
    return CoverageTally(groups, worst)
