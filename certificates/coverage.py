"""Which services each officine can reach with its live certificates.

A service is covered by one or more *requirements* (DMP needs a signing AND an
authentication certificate). Each requirement takes its best candidate (latest
expiry) among live certificates; the service state is the worst requirement state.
The rules (the single `RULES` table) are evaluated in SQL, by
`coverage_states_by_officine`: matrices, dashboard counts and list filters that
paginate in the database all read its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db import connections, models
from django.db.models import Case, Max, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certificates.models import (
    EXPIRING_DAYS,
    Certificate,
    Profile,
    Service,
)
from officines.identifiers import INSI_COMMON_NAMES
from officines.models import Officine


class CoverageState(models.TextChoices):
    COVERED = "covered", _("Covered")
    EXPIRING = "expiring", _("Expiring")
    EXPIRED = "expired", _("Expired")
    MISSING = "missing", _("Missing")


@dataclass(frozen=True)
class Requirement:
    """One certificate a service needs: profile(s), the service tag, optionally fixed CNs."""

    profiles: tuple[str, ...]
    service: str
    common_names: tuple[str, ...] | None = None

    def q(self) -> Q:
        condition = Q(profile__in=self.profiles, services__contains=f",{self.service},")
        if self.common_names is not None:
            condition &= Q(common_name__in=self.common_names)
        return condition


# domain.md, "Which certificates each service needs".
RULES: Mapping[str, tuple[Requirement, ...]] = {
    Service.DMP: (
        Requirement((Profile.ORG_SIGN,), Service.DMP),
        Requirement((Profile.ORG_AUTH_CLI,), Service.DMP),
    ),
    Service.INSI: (Requirement((Profile.ORG_AUTH_CLI,), Service.INSI, tuple(INSI_COMMON_NAMES)),),
    Service.PSC: (Requirement((Profile.ORG_AUTH_CLI,), Service.PSC),),
    # SERV SSL counts for MSSanté operators.
    Service.MSSANTE: (Requirement((Profile.ORG_AUTH_CLI, Profile.SERV_SSL), Service.MSSANTE),),
}


def _all_missing() -> dict[str, str]:
    return {str(service): str(CoverageState.MISSING) for service in RULES}


def _matrices(per_officine: QuerySet) -> dict[int, dict[str, str]]:
    """{officine_id: {service: state}} from the rows of `coverage_states_by_officine`."""
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
    certificates = Certificate.objects.filter(officine_id__in=ids_filter)
    matrices = _matrices(coverage_states_by_officine(certificates, now=now))
    if isinstance(officine_ids, QuerySet):
        ids_filter = officine_ids.values_list("pk", flat=True)
    # Officines without any live certificate are absent from the rows: they miss everything.
    return {pk: matrices.get(pk) or _all_missing() for pk in ids_filter}


def coverage_for_officine(officine: Officine, now: datetime | None = None) -> dict[str, str]:
    return coverage_for_officines([officine.pk], now=now)[officine.pk]


def officines_with_coverage_state(
    queryset: QuerySet, *, service: str | None, state: str, now: datetime | None = None
) -> QuerySet:
    """Filter an officine queryset on one service's coverage state (service=None: the state of
    at least one service), in SQL so that it paginates in the database.

    One grouped pass over the live certificates of these officines (an index-only scan of
    `cert_live_editor_expiry`), joined as a semi-join: correlated subqueries per officine
    cost ~0.4 s at 10,000 officines (BENCHMARKS.md).
    """
    services = list(RULES) if service is None else [service]
    unknown = [s for s in services if s not in RULES]
    if unknown:
        raise ValueError(f"no coverage rule for service {unknown[0]!r}")
    state = CoverageState(state)
    officines = queryset.order_by()
    certificates = Certificate.objects.filter(
        officine_id__in=officines.values("pk"),
        # Redundant (a certificate belongs to its officine's editor) but it lets PostgreSQL
        # range-scan the live-certificate index by editor: 3x faster than a full scan.
        editor_id__in=officines.values("editor_id"),
    )
    per_officine = coverage_states_by_officine(certificates, now=now, services=services)
    in_state = reduce(or_, (Q(**{state_field(s): state}) for s in services))
    if state == CoverageState.MISSING:
        # Officines without any live certificate are absent from `per_officine`: keep every
        # officine except those that miss nothing.
        complete = per_officine.exclude(in_state).values("officine_id")
        return queryset.exclude(pk__in=complete)
    return queryset.filter(pk__in=per_officine.filter(in_state).values("officine_id"))


def coverage_summary(editor_id: int, *, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Dashboard counts {service: {state: officines}} over active officines, in two queries."""
    officine_count = Officine.objects.of_editor(editor_id).active().count()
    certificates = Certificate.objects.of_editor(editor_id).filter(
        officine__editor_id=editor_id, officine__is_active=True
    )
    matrices = _matrices(coverage_states_by_officine(certificates, now=now))
    summary = {str(s): {str(state): 0 for state in CoverageState} for s in RULES}
    for matrix in matrices.values():
        for service, state in matrix.items():
            summary[service][state] += 1
    # Officines without any live certificate miss every service.
    for service in summary:
        summary[service][CoverageState.MISSING] += officine_count - len(matrices)
    return summary


def _state_case(names: list[str], now: datetime, soon: datetime) -> Case:
    """A service's state from its requirements' best expiries: the worst of them wins."""
    return Case(
        When(reduce(or_, (Q(**{f"{n}__isnull": True}) for n in names)), then=Value("missing")),
        When(reduce(or_, (Q(**{f"{n}__lte": now}) for n in names)), then=Value("expired")),
        When(reduce(or_, (Q(**{f"{n}__lte": soon}) for n in names)), then=Value("expiring")),
        default=Value("covered"),
        output_field=models.CharField(),
    )


def state_field(service: str) -> str:
    """Name of the per-service column of `coverage_states_by_officine`."""
    return f"state_{service.lower()}"


def coverage_states_by_officine(
    certificates: QuerySet,
    *,
    now: datetime | None = None,
    services: Iterable[str] | None = None,
) -> QuerySet:
    """`officine_id` and one `state_<service>` per RULES service (or per `services`),
    computed in SQL (GROUP BY officine) from the live certificates of `certificates`
    (already scoped by the caller).

    Grouped in the database rather than folded in Python (the dashboard of a 10,000-officine
    editor would read ~40,000 rows otherwise). Officines with no live certificate (for
    `services`: none meeting their requirements) are absent: they miss every service.
    """
    now = now or timezone.now()
    soon = now + timedelta(days=EXPIRING_DAYS)
    chosen = list(RULES) if services is None else list(services)
    best: dict[str, Max] = {}
    states: dict[str, Case] = {}
    for service in chosen:
        requirements = RULES[service]
        names = [f"_best_{service.lower()}_{i}" for i in range(len(requirements))]
        for name, requirement in zip(names, requirements, strict=True):
            best[name] = Max("not_after", filter=requirement.q())
        states[state_field(service)] = _state_case(names, now, soon)
    rows = certificates.live().order_by()
    if services is not None:  # only the rows that can count: fewer rows to group
        rows = rows.filter(reduce(or_, (r.q() for s in chosen for r in RULES[s])))
    return rows.values("officine_id").alias(**best).annotate(**states)


@dataclass(frozen=True)
class CoverageTally:
    """Officines counted per combination of service states, and the worst ones."""

    groups: list[tuple[dict[str, str], int]]  # ({service: state}, officines)
    worst: list[tuple[int, int, dict[str, str]]]  # (services in a gap, officine id, states)


def coverage_tally(
    per_officine: QuerySet, *, gap_states: Iterable[str], first: int
) -> CoverageTally:
    """From `coverage_states_by_officine` (every service): the number of officines per
    combination of states, and the `first` officines with the most services in
    `gap_states` (then by id), in one query whatever the number of officines.

    A hash aggregate for the counts and a top-N on an integer for the worst: sorting
    10,000 rows on their four state texts cost more than folding them in Python.
    """
    fields = [state_field(service) for service in RULES]
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
            by_service = dict(zip(RULES, states, strict=True))
            if kind == 0:
                groups.append((by_service, number))
            else:
                worst.append((number, officine_id, by_service))
    worst.sort(key=lambda item: (-item[0], item[1]))
    return CoverageTally(groups, worst)
